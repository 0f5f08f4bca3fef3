"""The run lock: at most one holder, ever; a crash (even a reused pid) frees it; a lock from another
host is reported with the way to clear it."""
from __future__ import annotations

import json
import multiprocessing
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from knowit.errors import KnowItRunError
from knowit.rundir import RunDir

TRIALS = 200


def _contender(root: str, barrier, results) -> None:
    for i in range(TRIALS):
        run = RunDir(Path(root) / str(i))
        barrier.wait()
        try:
            run.claim(overwrite=True)
            held = True
        except KnowItRunError:
            held = False
        barrier.wait()  # both have tried; a holder still holds
        results.put((i, held))
        if held:
            run.release()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_two_processes_racing_200_times_never_both_hold_the_lock(tmp_path: Path) -> None:
    dead = _dead_pid()
    for i in range(1, TRIALS, 2):  # every other trial starts from a crashed run's lock (taken over)
        (tmp_path / str(i)).mkdir()
        (tmp_path / str(i) / ".lock").write_text(str(dead) if i % 4 == 1 else json.dumps({"pid": dead, "host": socket.gethostname()}))
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(2, timeout=60), ctx.Queue()
    procs = [ctx.Process(target=_contender, args=(str(tmp_path), barrier, results)) for _ in range(2)]
    for p in procs:
        p.start()
    holders = [0] * TRIALS
    for _ in range(2 * TRIALS):
        i, held = results.get(timeout=60)
        holders[i] += held
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert max(holders) == 1, f"both processes held the lock in {holders.count(2)} of {TRIALS} trials"
    assert min(holders) == 1  # and the lock was never refused to both


def test_a_lock_naming_a_live_unrelated_pid_is_taken_over(tmp_path: Path) -> None:
    """A crashed run's lock whose pid now belongs to another live process: not held, so taken over."""
    run = RunDir(tmp_path / "r")
    run.path.mkdir()
    (run.path / ".lock").write_text(json.dumps({"pid": os.getppid(), "host": socket.gethostname(), "started": "2020-01-01T00:00:00"}))
    run.claim(overwrite=True)
    owner = json.loads((run.path / ".lock").read_text())
    assert owner["pid"] == os.getpid() and owner["host"] == socket.gethostname() and owner["started"]
    run.release()
    assert not (run.path / ".lock").exists()


def test_a_held_lock_names_its_owner_and_a_lock_from_another_host_says_how_to_clear_it(tmp_path: Path) -> None:
    holder = RunDir(tmp_path / "r")
    holder.claim(overwrite=False)
    with pytest.raises(KnowItRunError, match=rf"^model_name: run 'r' is in use by process {os.getpid()} on host {socket.gethostname()}, started 20"):
        RunDir(tmp_path / "r").claim(overwrite=True)
    holder.release()
    lock = tmp_path / "r" / ".lock"
    lock.write_text(json.dumps({"pid": 4242, "host": "node-17", "started": "2026-01-01T10:00:00"}))
    with pytest.raises(KnowItRunError, match=rf"locked by process 4242 on host node-17, started 2026-01-01T10:00:00.*delete {lock}"):
        RunDir(tmp_path / "r").claim(overwrite=True)
    assert json.loads(lock.read_text())["host"] == "node-17"  # refused: left as it was


def test_a_run_that_finished_while_we_waited_is_not_replaced(tmp_path: Path) -> None:
    """The existence check is repeated under the lock."""
    first = RunDir(tmp_path / "r")
    first.claim(overwrite=False)
    (first.path / "summary.json").write_text('{"status": "completed"}')
    first.release()
    with pytest.raises(KnowItRunError, match="a run already exists"):
        RunDir(tmp_path / "r").claim(overwrite=False)
    assert (first.path / "summary.json").read_text() == '{"status": "completed"}'

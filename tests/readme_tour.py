"""Runs the README's tour in one interpreter, as ``tests/test_readme.py`` asks:
``python readme_tour.py steps.json results.json`` in the tour's directory.

``steps.json`` lists ``{"argv": [...], "expected": exit code, "real": bool}``. A ``python -m knowit ...`` step runs
``knowit.cli.main`` in this process, a ``python file.py`` step runs the file as ``__main__``;
a ``real`` step (DDP, which re-launches its own command line; the typo's exit code) runs as a
separate process. Each step's exit code and its stdout/stderr, captured at the file-descriptor
level (so output of any handler or library is caught, as a terminal would show it), go to
``results.json``; the tour stops at the first step whose exit code is not the expected one.
One interpreter start for the whole tour instead of one per line.
"""
from __future__ import annotations

import json
import os
import resource
import runpy
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _in_process(argv: list[str]) -> int:
    if argv[1:3] == ["-m", "knowit"]:
        from knowit.cli import main

        return main(argv[3:])
    saved = sys.argv
    sys.argv = argv[1:]
    try:
        runpy.run_path(argv[1], run_name="__main__")
    finally:
        sys.argv = saved
    return 0


def _captured(argv: list[str]) -> tuple[int, str, str]:
    """Run one step with fds 1 and 2 pointing at files; the exit code as a shell would see it."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush(), sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        os.dup2(out.fileno(), 1), os.dup2(err.fileno(), 2)
        try:
            try:
                code = _in_process(argv)
            except SystemExit as exit_:  # argparse and Hydra leave through sys.exit
                code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
            except BaseException:  # an escaped exception is what `python -m knowit` would print
                import traceback

                traceback.print_exc()
                code = 1
        finally:
            sys.stdout.flush(), sys.stderr.flush()
            os.dup2(saved[0], 1), os.dup2(saved[1], 2)
            os.close(saved[0]), os.close(saved[1])
        out.seek(0), err.seek(0)
        return code, out.read().decode(errors="replace"), err.read().decode(errors="replace")


def _cpu_seconds() -> float:
    """User + system CPU of this process and its finished children (what a step cost)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main(steps_file: str, results_file: str) -> int:
    results = []
    for step in json.loads(Path(steps_file).read_text()):
        argv = [sys.executable, *step["argv"][1:]] if step["argv"][0] == "python" else step["argv"]
        started, cpu = time.perf_counter(), _cpu_seconds()
        if step["real"]:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=900)
            code, out, err = proc.returncode, proc.stdout, proc.stderr
        else:
            code, out, err = _captured(argv)
        results.append({"argv": step["argv"], "code": code, "stdout": out[-5000:], "stderr": err[-5000:],
                        "wall_s": round(time.perf_counter() - started, 2), "cpu_s": round(_cpu_seconds() - cpu, 2)})
        Path(results_file).write_text(json.dumps(results))  # what ran so far, should a step hang
        if code != step["expected"]:  # later steps build on this one
            break
    return 0


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:]))

"""Shared fixtures: a fresh experiment directory per test and tiny trainer settings."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent

# Small and fast everywhere: one epoch, a few batches, CPU.
TINY_TRAINER = {"max_epochs": 1, "limit_train_batches": 4, "limit_val_batches": 2, "limit_test_batches": 2, "accelerator": "cpu"}
TINY_OVERRIDES = [f"trainer.{k}={v}" for k, v in TINY_TRAINER.items()]
TINY_ARCH = "user_archs.tiny_linear"


XDIST_WORKERS = 2  # one per core of the 2-core machine the suite time in README.md is measured on


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """Without ``-n``, spread the tests over ``XDIST_WORKERS`` processes when pytest-xdist is
    installed (the ``test`` extra installs it; without it the suite runs in one process)."""
    if not config.pluginmanager.hasplugin("xdist") or os.environ.get("PYTEST_XDIST_WORKER"):
        return
    if config.option.numprocesses is None and not config.option.collectonly and not config.option.usepdb:
        config.option.numprocesses = XDIST_WORKERS
        config.option.tx = ["popen"] * XDIST_WORKERS
        if config.option.dist == "no":
            config.option.dist = "loadgroup"


def pytest_configure(config: pytest.Config) -> None:
    # In a pytest-xdist worker, torch (and every process a test starts) takes its share of the
    # cores instead of all of them: oversubscribed OpenMP threads spin and slow every worker down.
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if workers:
        threads = str(max(1, (os.cpu_count() or 1) // int(workers)))
        os.environ.setdefault("OMP_NUM_THREADS", threads)
        import torch

        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Spread over pytest-xdist workers, the long tests (marked slow) go first, in collection order
    # otherwise: they start together instead of one of them ending the run alone. A module whose
    # tests share a module-scoped fixture is one xdist_group, so it stays on one worker in one piece.
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        defs = info.name2fixturedefs.values() if info is not None else ()
        if any(d.scope in ("module", "class") for group in defs for d in group):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture
def exp_dir(tmp_path: Path) -> Path:
    path = tmp_path / "exp"
    path.mkdir()
    return path


@pytest.fixture
def ki(exp_dir: Path):
    from knowit import KnowIt

    return KnowIt(exp_dir)


def run_cli(args: list[str], *, cwd: Path, exp_dir: Path | None = None, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m knowit`` in a subprocess, with the test architectures importable."""
    full_env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")])}
    full_env.pop("HYDRA_FULL_ERROR", None)
    if exp_dir is not None:
        full_env["KNOWIT_EXP_DIR"] = str(exp_dir)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "knowit", *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def cli_main(monkeypatch: pytest.MonkeyPatch):
    """``knowit.cli.main(args)`` in this process: ``cli_main(args, cwd=..., exp_dir=...)`` returns a
    ``CompletedProcess`` (exit code, stdout, stderr) like ``run_cli``, without a new interpreter.
    An exception that escapes main() fails the test with its traceback."""
    import contextlib
    import io

    from knowit.cli import main

    def run(args: list[str], *, cwd: Path, exp_dir: Path | None = None) -> subprocess.CompletedProcess:
        monkeypatch.chdir(cwd)
        monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
        if exp_dir is not None:
            monkeypatch.setenv("KNOWIT_EXP_DIR", str(exp_dir))
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exit_:  # argparse and Hydra leave through sys.exit
                code = exit_.code if isinstance(exit_.code, int) else 1
        return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())

    return run


def tree_digest(path: Path) -> dict[str, bytes]:
    """Every file under ``path`` with its bytes: compare before/after to prove nothing changed."""
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}

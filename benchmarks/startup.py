"""Start-up: ``python -m knowit --help`` wall time, and config errors reported before torch loads.

The baseline is ``python -c pass`` (the interpreter's own start-up) so that the ratio says what
knowit adds; the absolute target is < 1.0 s.
"""
from __future__ import annotations

import ast
import subprocess
import sys
import tempfile

import statistics
import time

from benchmarks.common import Result, alternate

# Reports the modules loaded when the CLI has finished with a config error.
_PROBE = (
    "import sys, runpy\n"
    "sys.argv = ['knowit', 'train', 'trainer.max_epohs=3', 'exp_dir={exp}']\n"
    "try:\n"
    "    runpy.run_module('knowit', run_name='__main__')\n"
    "except SystemExit:\n"
    "    pass\n"
    "print('HEAVY', sorted(m for m in ('torch', 'pytorch_lightning', 'lightning') if m in sys.modules))\n"
)


def _call(args: list[str]) -> None:
    subprocess.run([sys.executable, *args], check=False, capture_output=True)


def heavy_modules_after_config_error() -> list[str]:
    """Which of torch / Lightning are imported by the time a config typo has been reported."""
    with tempfile.TemporaryDirectory() as exp:
        out = subprocess.run([sys.executable, "-c", _PROBE.format(exp=exp)], capture_output=True, text=True)
    if "trainer.max_epohs" not in out.stderr:
        return ["<no config error was reported>"]
    line = next((l for l in out.stdout.splitlines() if l.startswith("HEAVY")), "HEAVY ['?']")
    return ast.literal_eval(line[len("HEAVY "):])


def _seconds(args: list[str]):
    def measure() -> float:
        start = time.perf_counter()
        _call(args)
        return time.perf_counter() - start

    return measure


def run(smoke: bool, rounds: int) -> list[Result]:
    _call(["-m", "knowit", "--help"])  # warm the file cache and bytecode
    measured = alternate(_seconds(["-m", "knowit", "--help"]), _seconds(["-c", "pass"]), rounds)
    help_s, bare_s = statistics.median(measured.knowit), statistics.median(measured.baseline)
    heavy = heavy_modules_after_config_error()
    span = lambda v: [min(v), max(v)]  # noqa: E731
    return [
        Result("start-up", "`python -m knowit --help` wall s (baseline: `python -c pass`)", help_s, bare_s,
               statistics.median(measured.ratios), "< 1.0 s absolute", help_s < 1.0, "", len(measured.knowit),
               span(measured.knowit), span(measured.baseline), span(measured.ratios), span(measured.load)),
        Result("start-up", "torch/Lightning imported before a config error is reported", float(len(heavy)), 0.0,
               float(len(heavy)), "none", not heavy, ", ".join(heavy) or "none imported"),
    ]

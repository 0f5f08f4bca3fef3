"""Start-up: ``python -m knowit --help`` wall time, and config errors reported before torch loads.

The baseline is ``python -c pass`` (the interpreter's own start-up) so that the ratio says what
knowit adds; the absolute target is < 1.0 s.
"""
from __future__ import annotations

import ast
import subprocess
import sys
import tempfile

from benchmarks.common import Result, median_time

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


def run(smoke: bool, repeats: int) -> list[Result]:
    _call(["-m", "knowit", "--help"])  # warm the file cache and bytecode
    help_s = median_time(lambda: _call(["-m", "knowit", "--help"]), repeats)
    bare_s = median_time(lambda: _call(["-c", "pass"]), repeats)
    heavy = heavy_modules_after_config_error()
    return [
        Result("start-up", "`python -m knowit --help` wall s (baseline: `python -c pass`)", help_s, bare_s,
               help_s / bare_s, "< 1.0 s absolute", help_s < 1.0),
        Result("start-up", "torch/Lightning imported before a config error is reported", float(len(heavy)), 0.0,
               float(len(heavy)), "none", not heavy, ", ".join(heavy) or "none imported"),
    ]

"""Run every benchmark workload and write ``benchmarks/RESULTS.md``.

    python -m benchmarks.run [--smoke] [--rounds N] [--only NAME ...] [--out PATH]

``--smoke`` uses tiny sizes and writes nothing unless ``--out`` is given (the test suite runs it).
Each workload runs in a fresh process, so none inherits another's process state (allocator,
heap, threads, caches). Within a workload, knowit and its baseline alternate for ``--rounds``
rounds (at least ``MIN_ROUNDS`` in a full run; see ``benchmarks/common.py``).
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import MIN_ROUNDS, Result, load_average, machine

# Module names under benchmarks/, in the order they appear in RESULTS.md.
WORKLOADS = ("lstm_train", "units_cost", "zoo_bench", "compile_bench", "data_bench", "ddp_memory", "cnn_lstm_bench", "convlstm_bench", "startup", "gpu_path")
RESULTS = Path(__file__).with_name("RESULTS.md")


def _num(x: float) -> str:
    return f"{x:.4g}"


def _with_range(value: float, span: list[float], fmt=_num) -> str:
    return f"{fmt(value)} ({fmt(span[0])}-{fmt(span[1])})" if span and span[0] != span[1] else fmt(value)


def render(results: list[Result], facts: dict[str, str], command: str, seconds: float, gpu_note: str) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"Produced by `{command}` in {seconds:.0f} s. Each timed ratio is the median of the per-round",
        "ratios knowit / baseline over interleaved rounds (knowit, baseline, knowit, ...) in one process;",
        "each side shows its median and (min-max) over the rounds, and `load` the 1-minute load average",
        "(`uptime`) seen while the row was measured. Higher is better except where the target is `<`.",
        "",
        "| workload | measure | knowit (min-max) | baseline (min-max) | ratio (min-max) | rounds | load | target | met |",
        "|---|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in results:
        ratio = _with_range(r.ratio, r.ratio_range, lambda x: f"{x:.3f}")
        load = _with_range(r.load[0], r.load, lambda x: f"{x:.1f}") if r.load else "-"
        lines.append(
            f"| {r.workload} | {r.measure} | {_with_range(r.knowit, r.knowit_range)} | {_with_range(r.baseline, r.baseline_range)} | "
            f"{ratio} | {r.rounds} | {load} | {r.target} | {'yes' if r.met else '**no**'} |"
        )
    notes = [f"- {r.workload}: {r.notes}" + (f"; per-round ratios {', '.join(f'{x:.3f}' for x in r.per_round)}" if r.per_round else "")
             for r in results if r.notes]
    lines += ["", "## Workload details", "", *notes, "", "## Machine", ""]
    lines += [f"- {k}: {v}" for k, v in facts.items()]
    lines += ["", "## GPU path", "", gpu_note, ""]
    return "\n".join(lines)


def _gpu_note(results: list[Result]) -> str:
    if any(r.workload.startswith("GPU") for r in results):
        return "Measured: see the rows starting with `GPU:` (the harness runs them wherever CUDA is available)."
    return ("Not measured: no GPU was available to this run. On a CUDA machine the same command adds the "
            "`GPU:` rows (knowit vs a hand-written loop on the GPU, and bf16-mixed vs 32-bit).")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (seconds); writes only with --out")
    parser.add_argument("--rounds", "--repeats", type=int, default=None,
                        help=f"interleaved rounds per ratio (default and least {MIN_ROUNDS}; smoke 2)")
    parser.add_argument("--only", nargs="*", default=None, help="workload module names to run")
    parser.add_argument("--out", type=Path, default=None, help="where to write the Markdown table")
    parser.add_argument("--worker", type=Path, default=None, help=argparse.SUPPRESS)  # internal: one workload, results as JSON
    parser.add_argument("--gpu-note", default=None, help="what to say about the GPU path (default: from what this run found)")
    args = parser.parse_args(argv)
    rounds = args.rounds or (2 if args.smoke else MIN_ROUNDS)
    if rounds < MIN_ROUNDS and not args.smoke:
        parser.error(f"--rounds: a full run takes at least {MIN_ROUNDS} interleaved rounds per ratio")
    if args.worker is not None:
        module = importlib.import_module(f"benchmarks.{args.only[0]}")
        args.worker.write_text(json.dumps([dataclasses.asdict(r) for r in module.run(args.smoke, rounds)]))
        return 0
    names = args.only or WORKLOADS
    start, load_at_start = time.perf_counter(), load_average()
    results: list[Result] = []
    for name in names:
        if not (Path(__file__).parent / f"{name}.py").is_file():
            print(f"[skip] {name}: not present", file=sys.stderr)
            continue
        print(f"[run] {name}", file=sys.stderr, flush=True)
        for result in _run_isolated(name, args.smoke, rounds):
            results.append(result)
            print(f"  {result.measure}: knowit {_with_range(result.knowit, result.knowit_range)} vs "
                  f"{_with_range(result.baseline, result.baseline_range)} -> {result.ratio:.3f} over {result.rounds} rounds, "
                  f"load {result.load} (target {result.target}: {'met' if result.met else 'NOT met'})", file=sys.stderr, flush=True)
    command = "python -m benchmarks.run" + (" --smoke" if args.smoke else "") + (f" --only {' '.join(args.only)}" if args.only else "")
    facts = machine()
    facts["load average (1 min) at start / end"] = f"{load_at_start:.2f} / {load_average():.2f}"
    text = render(results, facts, command, time.perf_counter() - start, args.gpu_note or _gpu_note(results))
    out = args.out or (None if args.smoke else RESULTS)
    if out is not None:
        out.write_text(text, encoding="utf-8")
        print(f"wrote {out}", file=sys.stderr)
    else:
        print(text)
    return 0


def _run_isolated(name: str, smoke: bool, rounds: int) -> list[Result]:
    """One workload in a fresh Python process; its results come back as JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "results.json"
        command = [sys.executable, "-m", "benchmarks.run", "--only", name, "--rounds", str(rounds), "--worker", str(out)]
        subprocess.run(command + (["--smoke"] if smoke else []), cwd=Path(__file__).parents[1], check=True)
        return [Result(**r) for r in json.loads(out.read_text())]


if __name__ == "__main__":
    raise SystemExit(main())

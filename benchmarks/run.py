"""Run every benchmark workload and write ``benchmarks/RESULTS.md``.

    python -m benchmarks.run [--smoke] [--repeats N] [--only NAME ...] [--out PATH]

``--smoke`` uses tiny sizes and writes nothing unless ``--out`` is given (the test suite runs it).
Each workload runs in a fresh process, so none inherits another's process state (allocator,
heap, threads, caches).
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

from benchmarks.common import Result, machine

# Module names under benchmarks/, in the order they appear in RESULTS.md.
WORKLOADS = ("lstm_train", "data_bench", "cnn_lstm_bench", "convlstm_bench", "startup", "gpu_path")
RESULTS = Path(__file__).with_name("RESULTS.md")


def render(results: list[Result], facts: dict[str, str], command: str, seconds: float, gpu_note: str) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"Produced by `{command}` in {seconds:.0f} s. Ratios are knowit / baseline measured in the same",
        "run on the same machine (median of the repeats); higher is better except where the target is `<`.",
        "",
        "| workload | measure | knowit | baseline | ratio | target | met |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.workload} | {r.measure} | {r.knowit:.4g} | {r.baseline:.4g} | {r.ratio:.3f} | {r.target} | "
            f"{'yes' if r.met else '**no**'} |"
        )
    notes = [f"- {r.workload}: {r.notes}" for r in results if r.notes]
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
    parser.add_argument("--repeats", type=int, default=None, help="repeats per measurement (default 3, smoke 1)")
    parser.add_argument("--only", nargs="*", default=None, help="workload module names to run")
    parser.add_argument("--out", type=Path, default=None, help="where to write the Markdown table")
    parser.add_argument("--worker", type=Path, default=None, help=argparse.SUPPRESS)  # internal: one workload, results as JSON
    parser.add_argument("--gpu-note", default=None, help="what to say about the GPU path (default: from what this run found)")
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.smoke else 3)
    if args.worker is not None:
        module = importlib.import_module(f"benchmarks.{args.only[0]}")
        args.worker.write_text(json.dumps([dataclasses.asdict(r) for r in module.run(smoke=args.smoke, repeats=repeats)]))
        return 0
    names = args.only or WORKLOADS
    start = time.perf_counter()
    results: list[Result] = []
    for name in names:
        if not (Path(__file__).parent / f"{name}.py").is_file():
            print(f"[skip] {name}: not present", file=sys.stderr)
            continue
        print(f"[run] {name}", file=sys.stderr, flush=True)
        for result in _run_isolated(name, args.smoke, repeats):
            results.append(result)
            print(f"  {result.measure}: knowit {result.knowit:.4g} vs {result.baseline:.4g} -> {result.ratio:.3f} "
                  f"(target {result.target}: {'met' if result.met else 'NOT met'})", file=sys.stderr, flush=True)
    command = "python -m benchmarks.run" + (" --smoke" if args.smoke else "")
    text = render(results, machine(), command, time.perf_counter() - start, args.gpu_note or _gpu_note(results))
    out = args.out or (None if args.smoke else RESULTS)
    if out is not None:
        out.write_text(text, encoding="utf-8")
        print(f"wrote {out}", file=sys.stderr)
    else:
        print(text)
    return 0


def _run_isolated(name: str, smoke: bool, repeats: int) -> list[Result]:
    """One workload in a fresh Python process; its results come back as JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "results.json"
        command = [sys.executable, "-m", "benchmarks.run", "--only", name, "--repeats", str(repeats), "--worker", str(out)]
        subprocess.run(command + (["--smoke"] if smoke else []), cwd=Path(__file__).parents[1], check=True)
        return [Result(**r) for r in json.loads(out.read_text())]


if __name__ == "__main__":
    raise SystemExit(main())

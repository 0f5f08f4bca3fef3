"""Benchmarks: knowit against hand-written PyTorch, as ratios measured in one run.

Run every workload and rewrite ``benchmarks/RESULTS.md``::

    python -m benchmarks.run            # full sizes (minutes)
    python -m benchmarks.run --smoke    # tiny sizes, seconds (the test suite runs this)

Each workload module exposes ``run(smoke: bool, rounds: int) -> list[Result]`` and measures its
ratios with ``benchmarks.common.alternate`` + ``compare`` (interleaved rounds, medians, min-max).
"""

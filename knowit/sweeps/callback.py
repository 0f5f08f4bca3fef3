"""The Hydra callback that writes the sweep summary when a multirun ends (any sweeper or launcher)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback


class SweepSummaryCallback(Callback):
    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        from knowit.errors import KnowItError
        from knowit.sweeps.summary import summarize_sweep

        try:
            summary = summarize_sweep(Path(config.hydra.sweep.dir), metric=config.get("optimized_metric"))
        except (KnowItError, OSError) as err:
            print(f"knowit: sweep summary not written: {err}", file=sys.stderr)
            return
        print("\n" + summary.format())

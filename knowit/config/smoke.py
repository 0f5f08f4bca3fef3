"""``KNOWIT_SMOKE=1``: every run trains one epoch on a couple of batches per set, whatever its
config says. For checking that commands and scripts run end to end (the README's tour test, a
new experiment file) in seconds; the run's ``config.yaml`` records the shrunk values it used."""
from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from typing import Any

SMOKE_ENV = "KNOWIT_SMOKE"
SMOKE_EPOCHS = 1
SMOKE_BATCHES = 2


def smoke_settings(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    """``raw`` itself, or with ``KNOWIT_SMOKE=1`` a copy whose trainer is shrunk."""
    if os.environ.get(SMOKE_ENV) != "1" or not isinstance(raw.get("trainer"), Mapping):
        return raw
    out = copy.deepcopy(dict(raw))
    trainer = out["trainer"] = dict(out["trainer"])
    epochs = trainer.get("max_epochs")
    trainer["max_epochs"] = min(epochs, SMOKE_EPOCHS) if isinstance(epochs, int) else SMOKE_EPOCHS
    for key in ("limit_train_batches", "limit_val_batches", "limit_test_batches"):
        limit = trainer.get(key, 1.0)
        # a fraction (float) or a larger count becomes a couple of batches; 0 (skip the set) stays
        keep = limit == 0 or (isinstance(limit, int) and not isinstance(limit, bool) and limit <= SMOKE_BATCHES)
        trainer[key] = limit if keep else SMOKE_BATCHES
    return out

"""What a new user meets in the first hour: shareable file modes, errors in the door's own words,
an existing model_name refused before anything is built, short reprs."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from conftest import TINY_ARCH, TINY_OVERRIDES, TINY_TRAINER
from knowit import KnowIt
from knowit.atomic_io import write_json
from knowit.errors import KnowItRunError

KWARGS = {"arch": {"name": TINY_ARCH}, "trainer": TINY_TRAINER}


@pytest.fixture
def umask():
    """Set the process umask for one test and put the old one back."""
    old = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(old)


def _modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode) for p in root.rglob("*") if not p.is_symlink()}


def test_run_and_dataset_files_honour_the_umask(ki, exp_dir: Path, umask) -> None:
    umask(0o022)
    result = ki.train_model("shared", KWARGS)  # generates the built-in dataset into the store too
    modes = _modes(exp_dir)
    assert any(k.endswith("last.ckpt") for k in modes) and any(k.startswith("datasets/") for k in modes)
    wrong = {k: oct(m) for k, m in modes.items() if m != (0o755 if (exp_dir / k).is_dir() else 0o644)}
    assert not wrong, wrong
    assert repr(result).startswith("TrainResult(completed, run_dir=") and "valid_loss_scaled=" in repr(result) and len(repr(result)) < 300
    loaded = KnowIt.load(result.run_dir)
    assert repr(loaded).startswith(f"LoadedRun('shared': {TINY_ARCH} on synth_regression, ") and len(repr(loaded)) < 300
    # another umask, another mode: the mode follows the umask, it is not a fixed 0644
    umask(0o027)
    written = write_json(exp_dir / "group_only.json", {"a": 1})
    assert stat.S_IMODE(written.stat().st_mode) == 0o640


def test_existing_model_name_is_refused_in_the_api_words_before_data_is_built(ki) -> None:
    ki.train_model("taken", KWARGS)
    # The dataset named here does not exist: the name is refused first, in the API's words.
    with pytest.raises(KnowItRunError) as err:
        ki.train_model("taken", {**KWARGS, "data": {"name": "no_such_dataset"}})
    assert str(err.value).startswith("model_name: a run already exists at ") and "safe_mode=False (or overwrite=True)" in str(err.value)
    assert "overwrite=true" not in str(err.value)
    (ki.exp_dir / "sweeps" / "sw" / "0").mkdir(parents=True)
    with pytest.raises(KnowItRunError, match=r"sweep .* already exists; choose another model_name or pass overwrite=True$"):
        ki.sweep("sw", KWARGS, grid={"arch.hidden": [4]})


def test_existing_model_name_is_refused_by_the_cli_before_data_is_built(cli_main, tmp_path: Path, exp_dir: Path) -> None:
    KnowIt(exp_dir).train_model("taken", KWARGS)
    out = cli_main(["train", f"arch.name={TINY_ARCH}", *TINY_OVERRIDES, "model_name=taken", "data.name=no_such_dataset"],
                  cwd=tmp_path, exp_dir=exp_dir)
    assert out.returncode == 2
    assert out.stderr.strip() == f"knowit: error: model_name: a run already exists at {exp_dir / 'models' / 'taken'}; " \
                                 "choose another model_name or pass overwrite=true"

"""Your own architecture from a .py file: trained by path (CLI and API), recorded with its content
hash, checked by ``knowit archs --check``, listed by ``knowit archs``; an edited file warns."""
from __future__ import annotations

import hashlib
import warnings

import pytest
import yaml

from knowit.config.run_config import validate
from knowit.errors import KnowItConfigError

from conftest import TINY_OVERRIDES, TINY_TRAINER

GOOD = '''"""A tiny linear model from a file."""
from dataclasses import dataclass, field

import torch
from torch import nn

TASKS = ("regression", "classification")


@dataclass
class ArchArgs:
    hidden: int = field(default=4, metadata={"ge": 1})


class Model(nn.Module):
    def __init__(self, input_dim, output_dim, task_name, args=None):
        super().__init__()
        self.output_dim = list(output_dim)
        n_in = 1
        for d in input_dim:
            n_in *= d
        n_out = 1
        for d in output_dim:
            n_out *= d
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(n_in, args.hidden), nn.ReLU(), nn.Linear(args.hidden, n_out))

    def forward(self, x):
        return self.net(x).reshape(x.shape[0], *self.output_dim)
'''

BROKEN = '''from torch import nn


class ArchArgs:  # not a dataclass
    hidden = 4


class Model(nn.Module):
    def __init__(self, dims, task):
        super().__init__()
'''

WRONG_SHAPE = GOOD.replace("return self.net(x).reshape(x.shape[0], *self.output_dim)", "return self.net(x)")


def test_api_trains_a_file_arch_and_records_its_path_and_hash(ki, tmp_path):
    path = tmp_path / "my_arch.py"
    path.write_text(GOOD)
    result = ki.train_model("mine", {"arch": {"name": str(path), "hidden": 3}, "trainer": TINY_TRAINER})
    saved = yaml.safe_load((result.run_dir / "config.yaml").read_text())["arch"]
    assert saved == {"name": str(path.resolve()), "hidden": 3, "file_sha256": hashlib.sha256(GOOD.encode()).hexdigest()}
    assert result.status == "completed" and result.n_parameters == 16 * 4 * 3 + 3 + 3 * 1 + 1
    # Loading the run (the user names the file) is silent while the file is unchanged, warns once edited.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ki.load(result.run_dir, arch=str(path))
    path.write_text(GOOD + "\n# tuned\n")
    with pytest.warns(UserWarning, match=r"arch\.name: .*my_arch\.py has changed since this run was trained"):
        loaded = ki.load(result.run_dir, arch=str(path))
    assert sum(p.numel() for p in loaded.model.parameters()) == result.n_parameters


def test_cli_trains_a_file_arch_by_relative_path(cli_main, tmp_path, exp_dir):
    (tmp_path / "archs").mkdir()
    (tmp_path / "archs" / "my_arch.py").write_text(GOOD)
    proc = cli_main(["train", "arch.name=archs/my_arch.py", "arch.hidden=2", "model_name=cli", *TINY_OVERRIDES], cwd=tmp_path, exp_dir=exp_dir)
    assert proc.returncode == 0, proc.stderr
    saved = yaml.safe_load((exp_dir / "models" / "cli" / "config.yaml").read_text())["arch"]
    assert saved["name"] == str((tmp_path / "archs" / "my_arch.py").resolve()) and saved["hidden"] == 2


def test_an_edited_arch_file_warns_and_a_missing_or_broken_one_is_one_line(tmp_path):
    path = tmp_path / "my_arch.py"
    path.write_text(GOOD)
    recorded = validate({"arch": {"name": str(path)}}).to_dict()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        validate(recorded)  # unchanged: silent
    path.write_text(GOOD + "\n# tuned\n")
    with pytest.warns(UserWarning, match=r"arch\.name: .*my_arch\.py has changed since this run was trained \(sha256 [0-9a-f]{12}\.\.\. is now"):
        validate(recorded)
    with pytest.raises(KnowItConfigError, match=r"^arch\.name: no architecture file at .*nowhere\.py$"):
        validate({"arch": {"name": str(tmp_path / "nowhere.py")}})
    (tmp_path / "syntax.py").write_text("def (:\n")
    with pytest.raises(KnowItConfigError, match=r"^arch\.name: .*syntax\.py fails to load: SyntaxError"):
        validate({"arch": {"name": str(tmp_path / "syntax.py")}})


def test_archs_check_passes_a_good_file_and_lists_what_a_bad_one_lacks(cli_main, tmp_path, exp_dir):
    (tmp_path / "good.py").write_text(GOOD)
    (tmp_path / "broken.py").write_text(BROKEN)
    (tmp_path / "shape.py").write_text(WRONG_SHAPE)
    ok = cli_main(["archs", "--check", "good.py"], cwd=tmp_path, exp_dir=exp_dir)
    assert ok.returncode == 0 and "good.py: a working knowit architecture" in ok.stdout
    bad = cli_main(["archs", "--check", "broken.py"], cwd=tmp_path, exp_dir=exp_dir)
    assert bad.returncode == 2 and bad.stdout.splitlines() == [
        "broken.py: ArchArgs: not a dataclass; decorate it with @dataclass",
        "broken.py: Model: takes (dims, task); it must take (input_dim, output_dim, task_name, args)",
    ]
    assert bad.stderr.strip() == "knowit: error: broken.py is not a working knowit architecture (2 problems above)"
    shape = cli_main(["archs", "--check", "shape.py"], cwd=tmp_path, exp_dir=exp_dir)
    assert shape.returncode == 2 and shape.stdout.splitlines() == [
        "shape.py: regression: forward returns shape (4, 6); expected (batch, *output_dim) = (4, 2, 3)",
    ]


def test_archs_lists_shipped_archs_with_a_line_each_and_the_experiment_s_own(cli_main, tmp_path, exp_dir):
    (exp_dir / "archs").mkdir()
    (exp_dir / "archs" / "mine.py").write_text("raise SystemExit('listing must not run this file')\n")
    out = cli_main(["archs"], cwd=tmp_path, exp_dir=exp_dir)
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    for name in ("lstm", "mlp", "cnn", "tcn", "transformer", "tft", "cnn_lstm", "convlstm1d"):
        assert any(line.split()[:1] == [name] and len(line.split()) > 3 for line in lines), name
    assert lines[-1].strip() == str((exp_dir / "archs" / "mine.py").resolve())

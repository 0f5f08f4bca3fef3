"""The bad-input matrix: every malformed input gets one clear error naming the problem and the key,
an exception of knowit's own type from the API, exit 2 from the CLI, and nothing written.

Sections: config (API kwargs and overrides), CLI, checkpoints and run directories, resources.
The data and file rows live with the data tests' helpers below (``DATA_CASES``).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from knowit import KnowIt
from knowit.errors import KnowItConfigError, KnowItError, KnowItRunError

from conftest import TINY_ARCH, TINY_OVERRIDES, TINY_TRAINER, run_cli, tree_digest

BASE = {"data": {"name": "synth_regression"}, "arch": {"name": TINY_ARCH}, "trainer": TINY_TRAINER}
LSTM = {"data": {"name": "synth_regression"}, "arch": {"name": "lstm", "width": 8}, "trainer": TINY_TRAINER}

# (id, kwargs, overrides, key the message must start with or contain)
CONFIG_CASES = [
    ("typo-trainer", BASE, ["trainer.max_epohs=3"], "trainer.max_epohs"),
    ("typo-data", BASE, ["data.in_chnk=[0,1]"], "data.in_chnk"),
    ("typo-root", BASE, ["sed=4"], "sed"),
    ("typo-arch", LSTM, ["arch.widht=4"], "arch.widht"),
    ("typo-nested-arch", LSTM, ["arch.internal_state.trackin=true"], "arch.internal_state.trackin"),
    ("typo-nested-trainer", BASE, ["trainer.early_stopping.patienc=2"], "trainer.early_stopping.patienc"),
    ("typo-kwargs-group", {"model": {}}, [], "kwargs.model"),
    ("zero-lr", BASE, ["trainer.learning_rate=0"], "trainer.learning_rate"),
    ("str-lr", BASE, ["trainer.learning_rate=fast"], "trainer.learning_rate"),
    ("float-epochs", BASE, ["trainer.max_epochs=1.5"], "trainer.max_epochs"),
    ("zero-batch", BASE, ["data.batch_size=0"], "data.batch_size"),
    ("str-batch", BASE, ["data.batch_size=many"], "data.batch_size"),
    ("unknown-split", BASE, ["data.split_method=sideways"], "data.split_method"),
    ("unknown-task", BASE, ["data.task=forecasting"], "data.task"),
    ("reversed-chunk", BASE, ["data.in_chunk=[5,1]"], "data.in_chunk"),
    ("chunk-length", BASE, ["data.in_chunk=[1,2,3]"], "data.in_chunk"),
    ("portions-sum", BASE, ["data.split_portions=[0.5,0.2,0.2]"], "data.split_portions"),
    ("precision", BASE, ["trainer.precision=8"], "trainer.precision"),
    ("negative-seed", BASE, ["seed=-1"], "seed"),
    ("bool-type", BASE, ["data.shuffle_train=maybe"], "data.shuffle_train"),
    ("lstm-width", LSTM, ["arch.width=0"], "arch.width"),
    ("lstm-dropout", LSTM, ["arch.dropout=1.5"], "arch.dropout"),
    ("lstm-activation", LSTM, ["arch.output_activation=Tanhh"], "arch.output_activation"),
    ("lstm-init", LSTM, ["arch.internal_state.init_hidden_state=sometimes"], "arch.internal_state.init_hidden_state"),
    ("arch-module", {**BASE, "arch": {"name": "no_such_pkg.model"}}, [], "arch.name"),
    ("task-disagrees", {**BASE, "data": {"name": "synth_regression", "task": "regression"}, "arch": {"name": TINY_ARCH, "task": "classification"}}, [], "arch.task"),
    ("metric-for-task", BASE, ["optimized_metric=valid_accuracy"], "optimized_metric"),
    ("optim-unknown", BASE, ["trainer.optim=Adamm"], "trainer.optim"),
    ("optim-kwarg", BASE, ["+trainer.optim_kwargs.momentm=0.9"], "trainer.optim_kwargs"),
    ("scheduler-unknown", BASE, ["trainer.lr_scheduler=StepLRR"], "trainer.lr_scheduler"),
    ("scheduler-kwarg", BASE, ["trainer.lr_scheduler=StepLR", "+trainer.lr_scheduler_kwargs.stepsize=2"], "trainer.lr_scheduler_kwargs"),
    ("scheduler-kwargs-alone", BASE, ["+trainer.lr_scheduler_kwargs.step_size=2"], "trainer.lr_scheduler_kwargs"),
    ("plateau-monitor", BASE, ["trainer.lr_scheduler=ReduceLROnPlateau", "+trainer.lr_scheduler_kwargs.monitor=valid_acc"], "trainer.lr_scheduler_kwargs.monitor"),
    ("loss-unknown", BASE, ["trainer.loss_fn=mse"], "trainer.loss_fn"),
    ("metric-unknown", BASE, ["trainer.performance_metrics=[r2,rsquared]"], "trainer.performance_metrics[1]"),
    ("logger-unknown", BASE, ["trainer.logger=wandbx"], "trainer.logger[0]"),
    ("resume-missing", BASE, ["trainer.resume=no_such_run"], "trainer.resume"),
    ("tracking-shuffled", LSTM, ["arch.internal_state.tracking=true"], "data.batch_sampling"),
    ("monitor-unknown", BASE, ["trainer.early_stopping.enabled=true", "trainer.early_stopping.monitor=valid_f1"], "trainer.early_stopping.monitor"),
]


@pytest.mark.parametrize("kwargs, overrides, key", [c[1:] for c in CONFIG_CASES], ids=[c[0] for c in CONFIG_CASES])
def test_config_error_names_the_key_and_writes_nothing(ki: KnowIt, kwargs, overrides, key) -> None:
    before = tree_digest(ki.exp_dir)
    with pytest.raises(KnowItError) as info:
        ki.train_model("bad", kwargs, overrides=overrides)
    message = str(info.value)
    assert key in message and "\n" not in message.strip(), message
    assert isinstance(info.value, (KnowItConfigError, KnowItRunError, ValueError))
    assert not (ki.exp_dir / "models" / "bad").exists()
    assert {k: v for k, v in tree_digest(ki.exp_dir).items() if not k.startswith("datasets/")} == {
        k: v for k, v in before.items() if not k.startswith("datasets/")
    }


def _as_overrides(kwargs: dict, prefix: str = "") -> list[str]:
    from knowit.sweeps.grid import override_value

    out = []
    for key, value in kwargs.items():
        if isinstance(value, dict):
            out += _as_overrides(value, f"{prefix}{key}.")
        else:
            out.append(f"{prefix}{key}={override_value(value)}")
    return out


CLI_CONFIG_CASES = [c for c in CONFIG_CASES if _as_overrides(c[1])]  # {"model": {}} has no CLI form


@pytest.mark.parametrize("kwargs, overrides, key", [c[1:] for c in CLI_CONFIG_CASES], ids=[c[0] for c in CLI_CONFIG_CASES])
def test_config_error_through_the_cli_is_one_line_and_writes_nothing(cli_main, tmp_path: Path, exp_dir: Path, kwargs, overrides, key) -> None:
    before = tree_digest(exp_dir)
    out = cli_main(["train", *_as_overrides(kwargs), *overrides, "model_name=bad"], cwd=tmp_path, exp_dir=exp_dir)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("knowit: error: ") and key in lines[0] and "Traceback" not in out.stderr, out.stderr
    assert tree_digest(exp_dir) == before


@pytest.mark.parametrize("argv, key", [
    (["train", f"arch.name={TINY_ARCH}", *TINY_OVERRIDES, "trainer.max_epohs=3"], "trainer.max_epohs"),
    (["train", f"arch.name={TINY_ARCH}", *TINY_OVERRIDES, "-m", "trainer.max_epochs=1,two"], "trainer.max_epochs"),
    (["import", "nope.csv", "--name", "bad"], "file not found"),
], ids=["config", "sweep", "import"])
def test_a_real_process_prints_one_line_and_exits_2(tmp_path: Path, exp_dir: Path, argv, key) -> None:
    """The matrix above runs main() in-process; these run the real program (interpreter exit code,
    stderr as a user sees it, no traceback)."""
    out = run_cli(argv, cwd=tmp_path, exp_dir=exp_dir)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("knowit: error: ") and key in lines[0], out.stderr
    assert not any(exp_dir.iterdir())


def test_model_name_that_escapes_the_models_folder(ki: KnowIt) -> None:
    with pytest.raises(KnowItConfigError, match=r"^model_name: "):
        ki.train_model("../escape", BASE)
    assert not (ki.exp_dir / "escape").exists() and not (ki.exp_dir / "models").exists()


CLI_CASES = [
    ("cli-typo", ["trainer.max_epohs=3"], "trainer.max_epohs"),
    ("cli-group-choice", ["arch=transformer"], "arch"),
    ("cli-bad-syntax", ["trainer.max_epochs=[1,"], "overrides"),
    ("cli-unknown-dataset", ["data.name=nope"], "data.name"),
    ("cli-unknown-launcher", ["-m", "hydra/launcher=slurmm"], "hydra/launcher"),
    ("cli-swept-hydra-key", ["-m", "hydra.sweeper.params.arch.width=choice(4,8)"], "hydra.sweeper.params.arch.width"),
    ("cli-unknown-search", ["hparams_search=grid"], "hparams_search"),
    ("cli-sweep-bad-second-value", ["-m", "trainer.max_epochs=1,two"], "trainer.max_epochs"),
    ("cli-search-space-key", ["hparams_search=lstm_optuna"], "arch.width"),  # the space names keys this arch lacks
    ("cli-search-interval-end", ["-m", "hydra/sweeper=optuna", "arch.hidden=int(interval(0,4))"], "arch.hidden"),
]


@pytest.mark.parametrize("overrides, key", [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_cli_error_is_one_line_exit_2(cli_main, tmp_path: Path, exp_dir: Path, overrides, key) -> None:
    out = cli_main(["train", f"arch.name={TINY_ARCH}", *TINY_OVERRIDES, *overrides], cwd=tmp_path, exp_dir=exp_dir)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("knowit: error: ") and key in lines[0], out.stderr
    assert "Traceback" not in out.stderr
    assert not (exp_dir / "models").exists() or not any((exp_dir / "models").iterdir())


# -- checkpoints and run directories ------------------------------------------------------------
@pytest.fixture
def trained(ki: KnowIt) -> Path:
    return ki.train_model("good", BASE).run_dir


def _last(run: Path) -> Path:
    return run / "checkpoints" / "last.ckpt"


class _Payload:
    """Unpickling this would create a marker file: proof that a loader ran foreign code."""

    marker = ""

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda raw: raw[:200], "the file is truncated or corrupted (not the zip archive torch.save writes)"),
        (lambda raw: bytes(range(7, 107)), "the file is truncated or corrupted (not the zip archive torch.save writes)"),
        (lambda raw: b"", "the file is empty"),
    ],
    ids=["truncated", "random-bytes", "empty"],
)
def test_damaged_checkpoint_is_a_clear_error(trained: Path, damage, reason: str) -> None:
    """The reason in words, not torch's (``[Errno 22]``, ``EOFError``, or advice to load with
    ``weights_only=False``, which is the unsafe thing to do with a file of unknown origin)."""
    for ckpt in (trained / "checkpoints").glob("*.ckpt"):
        ckpt.write_bytes(damage(ckpt.read_bytes()))
    with pytest.raises(KnowItRunError) as err:
        KnowIt.load(trained)
    message = str(err.value)
    assert re.fullmatch(r"checkpoint: \S+\.ckpt cannot be loaded: " + re.escape(reason), message), message


def test_pickle_payload_in_checkpoint_never_runs(trained: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = _Payload()
    payload.marker = str(marker)
    for ckpt in (trained / "checkpoints").glob("*.ckpt"):
        torch.save({"state_dict": {}, "evil": payload}, ckpt)
    with pytest.raises(KnowItRunError, match=r"^checkpoint: \S+ cannot be loaded safely: it holds \S+, which weights-only loading refuses; knowit never unpickles code$"):
        KnowIt.load(trained)
    assert not marker.exists()


def test_checkpoint_from_another_architecture(ki: KnowIt, trained: Path) -> None:
    other = ki.train_model("other", LSTM).run_dir
    for ckpt in (trained / "checkpoints").glob("*.ckpt"):
        state = torch.load(ckpt, weights_only=True)
        state["state_dict"] = torch.load(_last(other), weights_only=True)["state_dict"]
        torch.save(state, ckpt)
    with pytest.raises(KnowItRunError, match=r"does not fit its architecture"):
        KnowIt.load(trained)


def test_missing_checkpoint_reports_status(trained: Path) -> None:
    shutil.rmtree(trained / "checkpoints")
    with pytest.raises(KnowItRunError, match=r"^run_dir: .*no checkpoint.*completed"):
        KnowIt.load(trained)


def test_garbled_run_config_is_a_clear_error(trained: Path) -> None:
    (trained / "config.yaml").write_text("data: [unclosed\n")
    with pytest.raises(KnowItError, match=r"config"):
        KnowIt.load(trained)


def test_not_a_run_directory(tmp_path: Path) -> None:
    with pytest.raises(KnowItRunError, match=r"run_dir"):
        KnowIt.load(tmp_path / "nowhere")


# -- resources --------------------------------------------------------------------------------
def test_exp_dir_that_is_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "exp"
    blocker.write_text("not a directory")
    with pytest.raises(KnowItError, match=r"exp_dir"):
        KnowIt(blocker).train_model("m", BASE)
    assert blocker.read_text() == "not a directory"


_FULL_DISK = """
import resource, signal, sys
from pathlib import Path
sys.path.insert(0, {tests!r})
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead
resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))
from knowit import KnowIt
from knowit.errors import KnowItError
from conftest import TINY_ARCH, TINY_TRAINER
try:
    KnowIt({exp!r}).train_model("second", {{"data": {{"name": "synth_regression"}}, "arch": {{"name": TINY_ARCH}}, "trainer": TINY_TRAINER}})
except KnowItError as err:
    print("KNOWIT_ERROR", err)
"""


def test_full_disk_is_a_clear_error_and_earlier_runs_survive(ki: KnowIt, trained: Path) -> None:
    before = tree_digest(trained)
    code = _FULL_DISK.format(tests=str(Path(__file__).parent), exp=str(ki.exp_dir))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert "KNOWIT_ERROR" in out.stdout, out.stdout + out.stderr
    assert "Traceback" not in out.stdout
    assert tree_digest(trained) == before


# -- consent and concurrency ----------------------------------------------------------------------
@pytest.mark.slow
def test_two_runs_with_one_name_exactly_one_proceeds_and_a_crash_frees_the_lock(cli_main, tmp_path: Path, exp_dir: Path) -> None:
    """The first run is a real process (killed below); the second and third run main() in this one."""
    import signal
    import time

    args = ["train", f"arch.name={TINY_ARCH}", "model_name=shared", "overwrite=true", "trainer.max_epochs=500",
            "trainer.limit_train_batches=4", "trainer.limit_val_batches=1", "trainer.accelerator=cpu"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent), "KNOWIT_EXP_DIR": str(exp_dir)}
    first = subprocess.Popen([sys.executable, "-m", "knowit", *args], cwd=tmp_path, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lock = exp_dir / "models" / "shared" / ".lock"
    deadline = time.monotonic() + 120
    while not lock.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert lock.exists() and first.poll() is None
    second = cli_main(args, cwd=tmp_path, exp_dir=exp_dir)
    assert first.poll() is None, "the first run must still be training"
    assert second.returncode == 2 and "is in use by process" in second.stderr and "Traceback" not in second.stderr
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert lock.exists()  # a crash leaves the lock behind ...
    third = cli_main([*args[:4], "trainer.max_epochs=1", *args[5:]], cwd=tmp_path, exp_dir=exp_dir)
    assert third.returncode == 0, third.stderr  # ... and the next run takes it over
    assert not lock.exists()


# -- files: each bad file through the CLI (one line, exit 2) and the API (KnowItDataError) --------
def _good_csv(path: Path) -> None:
    import numpy as np
    import pandas as pd

    t = np.arange(40)  # longer than one default window (32 rows)
    pd.DataFrame({"time": t, "x1": np.sin(t / 3.0), "y1": np.cos(t / 3.0)}).to_csv(path, index=False)


def _truncated(kind: str):
    def make(path: Path) -> None:
        import numpy as np
        import pandas as pd

        if kind == "parquet":
            pd.DataFrame({"time": np.arange(50), "x1": np.arange(50.0)}).to_parquet(path)
        else:
            np.savez(path, x=np.zeros((20, 4, 2), np.float32), y=np.arange(20))
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    return make


FILE_CASES = [
    ("missing-file", "nope.csv", None, "file not found"),
    ("empty-csv", "empty.csv", lambda p: p.write_text(""), "cannot read|holds no rows"),
    ("header-only-csv", "header.csv", lambda p: p.write_text("time,x1\n"), "holds no rows"),
    ("binary-as-csv", "garbage.csv", lambda p: p.write_bytes(b"\x00\x01\xff\xfe garbage"), "cannot read|no numeric|holds no rows"),
    ("utf16-csv", "utf16.csv", lambda p: p.write_text("time,x1\n0,1.0\n1,2.0\n", encoding="utf-16"), "cannot read|no numeric"),
    ("latin1-csv", "latin1.csv", lambda p: p.write_bytes("time,temp\xe9rature\n0,1.0\n1,2.0\n".encode("latin-1")), "cannot read"),
    ("truncated-parquet", "cut.parquet", _truncated("parquet"), "cannot read"),
    ("truncated-npz", "cut.npz", _truncated("npz"), "cannot read|not a valid|truncated"),
    ("npz-not-zip", "text.npz", lambda p: p.write_text("not an archive"), "cannot read|not a valid"),
    ("unsupported-suffix", "table.xlsx", lambda p: p.write_bytes(b"PK\x03\x04"), "unsupported file type"),
    ("directory-not-file", "folder.csv", lambda p: p.mkdir(), "file not found|not a file"),
    ("non-numeric-csv", "words.csv", lambda p: p.write_text("time,x1\n0,a\n1,b\n"), "not numeric|no numeric"),
]


@pytest.mark.parametrize("name, make, match", [c[1:] for c in FILE_CASES], ids=[c[0] for c in FILE_CASES])
def test_bad_file_is_one_clear_line_and_the_store_is_unchanged(cli_main, tmp_path: Path, exp_dir: Path, name, make, match) -> None:
    from knowit.errors import KnowItDataError

    ki = KnowIt(exp_dir)
    good = tmp_path / "good.csv"
    _good_csv(good)
    ki.import_dataset({"data_import": {"raw_data": str(good), "meta": {"name": "good", "time_column": "time"}}})
    path = tmp_path / name
    if make is not None:
        make(path)
    before = tree_digest(exp_dir)
    with pytest.raises(KnowItDataError, match=match):
        ki.import_dataset({"data_import": {"raw_data": str(path), "meta": {"name": "bad"}}})
    out = cli_main(["import", str(path), "--name", "bad", "--exp-dir", str(exp_dir)], cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(("knowit: error: path:", "knowit: error: --")), out.stderr  # the CLI's own words
    assert re.search(match, lines[0]) and "Traceback" not in out.stderr
    assert tree_digest(exp_dir) == before


# -- atomic artefacts ----------------------------------------------------------------------------
def test_a_failing_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    from knowit.atomic_io import read_json, write_atomic, write_json

    target = tmp_path / "summary.json"
    write_json(target, {"status": "completed"})

    def dies_half_way(tmp: Path) -> None:
        tmp.write_text('{"status": "comp')
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        write_atomic(target, dies_half_way)
    assert read_json(target) == {"status": "completed"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]


def test_a_run_killed_before_its_first_checkpoint_is_reported_incomplete(ki: KnowIt) -> None:
    """What a SIGKILL in the first epoch leaves: config, scalers and a 'running' summary."""
    run = ki.train_model("k", BASE).run_dir
    shutil.rmtree(run / "checkpoints")
    (run / "metrics.csv").unlink()
    summary = json.loads((run / "summary.json").read_text())
    (run / "summary.json").write_text(json.dumps({k: summary[k] for k in ("model_name", "arch", "dataset", "task")} | {"status": "running"}))
    with pytest.raises(KnowItRunError, match=r"no checkpoint.*status: running"):
        KnowIt.load(run)
    with pytest.raises(KnowItRunError, match=r"no checkpoint"):
        ki.evaluate("k")


# -- issue 19: the remaining tracebacks and unclear lines -----------------------------------------
def _one_line(out) -> str:
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(lines) == 1 and lines[0].startswith("knowit: error: "), out.stderr
    assert "Traceback" not in out.stderr
    return lines[0]


def test_model_name_with_a_nul_byte_or_300_characters_blames_model_name(ki: KnowIt, cli_main, tmp_path: Path) -> None:
    before = tree_digest(ki.exp_dir)
    with pytest.raises(KnowItConfigError, match=r"^model_name: 'a\\x00b' cannot be a directory name$"):
        ki.train_model("a\0b", BASE)
    with pytest.raises(KnowItConfigError, match=r"^model_name: 300 bytes long; a directory name holds at most 255$"):
        ki.train_model("m" * 300, BASE)
    line = _one_line(cli_main(["train", f"arch.name={TINY_ARCH}", *TINY_OVERRIDES, f"model_name={'m' * 300}"], cwd=tmp_path, exp_dir=ki.exp_dir))
    assert line.startswith("knowit: error: model_name: 300 bytes long")
    assert tree_digest(ki.exp_dir) == before


def test_a_model_too_large_for_memory_is_one_line_naming_arch(cli_main, tmp_path: Path, exp_dir: Path) -> None:
    line = _one_line(cli_main(["train", "arch=lstm", "arch.width=100000", *TINY_OVERRIDES, "model_name=big"], cwd=tmp_path, exp_dir=exp_dir))
    assert line.startswith("knowit: error: arch: lstm with arch.width=100000") and "does not fit in memory" in line
    assert not (exp_dir / "models").exists()


@pytest.mark.parametrize("content, what", [("- data\n- arch\n", "a list"), ("just words\n", "a str"), ("", "empty")],
                         ids=["list", "string", "empty"])
def test_run_config_that_is_not_a_mapping(trained: Path, cli_main, tmp_path: Path, content: str, what: str) -> None:
    (trained / "config.yaml").write_text(content)
    with pytest.raises(KnowItRunError, match=rf"^run_dir: .*config.yaml is {what}; expected a mapping"):
        KnowIt.load(trained)
    line = _one_line(cli_main(["evaluate", "good"], cwd=tmp_path, exp_dir=trained.parent.parent))
    assert f"config.yaml is {what}" in line


def test_scalers_json_that_is_not_json(trained: Path, cli_main, tmp_path: Path) -> None:
    (trained / "scalers.json").write_text("{not json")
    with pytest.raises(KnowItRunError, match=r"^run_dir: .*scalers.json is unreadable"):
        KnowIt.load(trained)
    assert "scalers.json is unreadable" in _one_line(cli_main(["predict", "good"], cwd=tmp_path, exp_dir=trained.parent.parent))


def test_stored_labels_outside_the_class_range(ki: KnowIt) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    ki.import_dataset({"data_import": {"raw_data": {"x": rng.normal(size=(60, 4, 2)).astype("float32"), "y": rng.integers(0, 3, 60)},
                                       "meta": {"name": "codes", "task": "classification"}}})
    meta_path = ki.exp_dir / "datasets" / "codes" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["class_names"] = meta["class_names"][:2]  # a damaged store: code 2 has no name
    meta_path.write_text(json.dumps(meta))
    kwargs = {"data": {"name": "codes", "task": "classification"}, "arch": {"name": TINY_ARCH}, "trainer": TINY_TRAINER}
    with pytest.raises(KnowItError, match=r"^data.name: stored dataset 'codes' holds class code 2 in 'y', but its metadata lists 2 classes"):
        ki.train_model("c", kwargs)
    assert not (ki.exp_dir / "models").exists()


def test_a_non_finite_loss_before_any_checkpoint_does_not_claim_one(ki: KnowIt) -> None:
    kwargs = {"arch": {"name": "user_archs.diverging", "nan_after_batches": 1}, "trainer": TINY_TRAINER}
    with pytest.raises(KnowItRunError, match=r"at epoch 0, batch 1; .*; no checkpoint had been saved yet$") as info:
        ki.train_model("early", kwargs)
    assert "kept" not in str(info.value)
    summary = json.loads((ki.exp_dir / "models" / "early" / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["last_checkpoint"] is None


def test_a_full_disk_names_the_artefact_not_the_temporary_file(tmp_path: Path) -> None:
    import errno

    from knowit.atomic_io import write_json
    from knowit.errors import os_errors_as_run_errors

    target = tmp_path / "summary.json"

    def full(tmp: Path) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp))  # what open/write of the temporary file says

    from knowit.atomic_io import write_atomic

    with pytest.raises(KnowItRunError) as info, os_errors_as_run_errors():
        write_atomic(target, full)
    assert str(info.value) == f"exp_dir: cannot write {target}: No space left on device"
    assert list(tmp_path.iterdir()) == []
    write_json(target, {"ok": True})  # and the next write works


def test_hydra_run_dir_is_refused_and_creates_nothing(cli_main, tmp_path: Path, exp_dir: Path) -> None:
    elsewhere = tmp_path / "outside" / "run"
    line = _one_line(cli_main(["train", f"arch.name={TINY_ARCH}", *TINY_OVERRIDES, f"hydra.run.dir={elsewhere}"], cwd=tmp_path, exp_dir=exp_dir))
    assert line.startswith("knowit: error: hydra.run.dir: ")
    assert not (tmp_path / "outside").exists() and not any(exp_dir.iterdir())


def test_an_empty_set_is_noted_at_training_and_one_line_when_evaluated(ki: KnowIt, cli_main, tmp_path: Path) -> None:
    with pytest.raises(KnowItConfigError, match=r"^data.split_portions: \[1.0, 0.0, 0.0\] leaves no validation set, but trainer.checkpoint.monitor watches 'valid_loss_scaled'"):
        ki.train_model("none", {**BASE, "data": {"name": "synth_regression", "split_portions": [1, 0, 0]}})
    run = ki.train_model("notest", {**BASE, "data": {"name": "synth_regression", "split_portions": [0.8, 0.2, 0]}}).run_dir
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and "valid_loss_scaled" in summary["metrics"]
    assert summary["not_evaluated"] == {"test": "the test set holds no points (data.split_portions=[0.8, 0.2, 0.0]), so it was not evaluated"}
    for command in (["evaluate", "notest", "--set", "test"], ["predict", "notest", "--set", "test"]):
        assert _one_line(cli_main(command, cwd=tmp_path, exp_dir=ki.exp_dir)) == (
            "knowit: error: set: the test set holds no points (data.split_portions=[0.8, 0.2, 0.0]); choose a set with points")


# -- import: what the table holds (one line naming the column or key, exit 2, store unchanged) --
def _series_csv(path: Path, n: int = 40, *, dates: bool = False, cell: tuple[int, str] | None = None) -> None:
    import numpy as np
    import pandas as pd

    t = pd.date_range("2024-01-01", periods=n, freq="h") if dates else np.arange(n)
    frame = pd.DataFrame({"time": t, "x1": np.sin(np.arange(n) / 3.0), "y1": np.cos(np.arange(n) / 3.0)})
    if cell is not None:
        frame["x1"] = frame["x1"].astype(object)
        frame.loc[cell[0], "x1"] = cell[1]
    frame.to_csv(path, index=False)


def _far_date_csv(path: Path) -> None:
    _series_csv(path, dates=True)
    path.write_text(path.read_text().replace("2024-01-02 15:00:00", "3000-01-02 15:00:00"))  # row 39, a typo'd year


def _irregular_csv(path: Path) -> None:
    import numpy as np
    import pandas as pd

    t = np.cumsum(np.random.default_rng(0).integers(1, 50, 60)).astype(float)
    pd.DataFrame({"time": t, "x1": np.arange(60.0)}).to_csv(path, index=False)


def _complex_npz(path: Path) -> None:
    import numpy as np

    np.savez(path, x=np.ones((6, 4, 2), dtype=np.complex64), y=np.arange(6) % 2)


IMPORT_CASES = [  # (id, make the file, CLI arguments, the message must contain)
    ("float32-overflow", lambda p: _series_csv(p, cell=(5, "1e39")), [], "column 'x1' row 5 holds 1e+39, beyond float32"),
    ("text-cell-in-numbers", lambda p: _series_csv(p, cell=(7, "oops")), [], "column 'x1' is not numeric: row 7 holds 'oops'"),
    ("zero-time-delta", _series_csv, ["--meta", '{"time_delta": 0}'], "--meta time_delta: the step must be positive"),
    ("negative-time-delta", _series_csv, ["--meta", '{"time_delta": -1.5}'], "--meta time_delta: the step must be positive"),
    ("month-time-delta", lambda p: _series_csv(p, dates=True), ["--meta", '{"time_delta": "1M"}'], "--meta time_delta: '1M' is not a duration"),
    ("banana-time-delta", lambda p: _series_csv(p, dates=True), ["--meta", '{"time_delta": "banana"}'], "--meta time_delta: 'banana'"),
    ("banana-freq", lambda p: _series_csv(p, dates=True), ["--meta", '{"freq": "banana"}'], "--freq: 'banana' is not a pandas frequency"),
    ("freq-off-grid", lambda p: _series_csv(p, dates=True), ["--freq", "MS"], "--freq: row 1 at 2024-01-01 01:00:00 is not on the 'MS' grid"),
    ("components-twice", _series_csv, ["--components", "x1,x1"], "--components: column 'x1' is named twice"),
    ("components-missing", _series_csv, ["--components", "x1,x9"], "--components: no column 'x9'; columns: x1, y1"),
    ("targets-missing", _series_csv, ["--targets", "y"], "--targets: no column 'y'; columns: x1, y1"),
    ("labels-missing", _series_csv, ["--labels", "kind"], "--labels: no column 'kind'; columns: x1, y1"),
    ("time-column-missing", _series_csv, ["--time-column", "when"], "--time-column: no column 'when'; columns: time, x1, y1"),
    ("instance-column-missing", _series_csv, ["--instance-column", "unit"], "--instance-column: no column 'unit'; columns: x1, y1"),
    ("too-short", lambda p: _series_csv(p, n=10), [], "longest contiguous slice of 'bad' has 10 rows, fewer than 32"),
    ("irregular-steps", _irregular_csv, [], "time steps of 'bad' are irregular"),
    ("date-beyond-2262", _far_date_csv, [], "--time-column: row 39 holds 3000-01-02 15:00:00, a date outside the years 1677-2262"),
    ("complex-arrays", _complex_npz, [], "array 'x' is complex"),
]


@pytest.mark.parametrize("make, args, match", [c[1:] for c in IMPORT_CASES], ids=[c[0] for c in IMPORT_CASES])
def test_bad_import_is_one_line_naming_the_key_and_the_store_is_unchanged(cli_main, tmp_path: Path, exp_dir: Path, make, args, match) -> None:
    path = tmp_path / ("bad.npz" if make is _complex_npz else "bad.csv")
    make(path)
    (exp_dir / "datasets").mkdir()
    before = tree_digest(exp_dir)
    out = cli_main(["import", str(path), "--name", "bad", *args, "--exp-dir", str(exp_dir)], cwd=tmp_path)
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert match in lines[0], lines[0]
    assert lines[0].startswith(("knowit: error: path:", "knowit: error: --")), lines[0]  # the flag the user typed
    assert tree_digest(exp_dir) == before and not any((exp_dir / "datasets").iterdir())


def test_coerce_reads_text_cells_as_missing_and_reports_the_dropped_row(cli_main, tmp_path: Path, exp_dir: Path) -> None:
    from knowit.data.store import DatasetStore

    path = tmp_path / "cells.csv"
    _series_csv(path, n=80, cell=(7, "oops"))
    out = cli_main(["import", str(path), "--name", "cells", "--coerce", "--exp-dir", str(exp_dir)], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    data = DatasetStore(exp_dir).load_series("cells")
    assert data.components == ["x1", "y1"] and data.n_rows == 79  # the column kept, its bad row dropped
    assert data.slices[:, 2].tolist() == [7, 72] and data.dropped_rows == {"of": 80, "duplicate": 0, "missing": 1}
    assert "dropped_rows: {'of': 80, 'duplicate': 0, 'missing': 1}" in out.stdout


@pytest.mark.parametrize("how", ["datasets-is-a-file", "read-only-folder"])
def test_import_into_an_unwritable_folder_is_one_line(cli_main, tmp_path: Path, exp_dir: Path, how) -> None:
    path = tmp_path / "ok.csv"
    _series_csv(path)
    if how == "datasets-is-a-file":
        (exp_dir / "datasets").write_text("not a folder")
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders; the datasets-is-a-file case covers the error path")
        (exp_dir / "datasets").mkdir()
        (exp_dir / "datasets").chmod(0o555)
    out = cli_main(["import", str(path), "--name", "ok", "--exp-dir", str(exp_dir)], cwd=tmp_path)
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert lines[0].startswith("knowit: error: exp_dir: cannot write dataset 'ok'"), lines[0]


def test_time_zone_aware_csv_across_a_dst_change_is_one_hourly_slice(cli_main, tmp_path: Path, exp_dir: Path) -> None:
    import numpy as np
    import pandas as pd

    from knowit.data.prepared import prepare_dataset
    from knowit.config.schema import DataConfig
    from knowit.data.store import DatasetStore

    local = pd.date_range("2021-03-27 00:00", periods=72, freq="h", tz="Europe/Berlin")  # spring forward on the 28th
    path = tmp_path / "dst.csv"
    pd.DataFrame({"time": local.strftime("%Y-%m-%dT%H:%M:%S%z"), "x1": np.arange(72.0), "y1": np.arange(72.0)}).to_csv(path, index=False)
    out = cli_main(["import", str(path), "--name", "dst", "--targets", "y1", "--exp-dir", str(exp_dir)], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "time_step: 1 h" in out.stdout and "n_slices: 1" in out.stdout
    zoned = ["import", str(path), "--name", "dst_berlin", "--targets", "y1", "--meta", '{"tz": "Europe/Berlin"}']
    assert cli_main([*zoned, "--exp-dir", str(exp_dir)], cwd=tmp_path).returncode == 0
    cfg = DataConfig(name="dst_berlin", in_components=["x1"], in_chunk=[-3, 0], split_portions=[1.0, 0.0, 0.0])
    prepared = prepare_dataset(cfg, DatasetStore(exp_dir), 0)
    table = prepared.point_columns(prepared.set_points("train"))
    assert pd.DatetimeIndex(table["time"]).equals(local[3:])  # wall-clock times in the zone, across the change


def test_a_run_whose_saved_config_no_longer_validates_is_a_clear_error(trained: Path) -> None:
    """Loading re-validates config.yaml (an old knowit's key, a hand edit): one line naming file and key."""
    import yaml

    config = yaml.safe_load((trained / "config.yaml").read_text())
    config["data"]["retired_key"] = 1
    (trained / "config.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(KnowItConfigError, match=r"^config: .*config\.yaml no longer validates: data\.retired_key: unknown key"):
        KnowIt.load(trained)

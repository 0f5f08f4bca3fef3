"""Config validation: every bad key or value fails with one line naming the full key path."""
from __future__ import annotations

import pytest

from knowit import KnowItConfigError
from knowit.config.compose import compose, config_from_kwargs, normalize_overrides
from knowit.config.run_config import validate

from conftest import TINY_ARCH


def _validate(overrides: list[str]):
    return validate(compose([f"arch.name={TINY_ARCH}", *overrides]))


@pytest.mark.parametrize(
    "override, key, fragment",
    [
        ("trainer.max_epohs=3", "trainer.max_epohs", "did you mean 'max_epochs'"),
        ("data.in_chnk=[0,1]", "data.in_chnk", "did you mean 'in_chunk'"),
        ("sed=4", "sed", "did you mean 'seed'"),
        ("arch.hiden=4", "arch.hiden", "did you mean 'hidden'"),
        ("trainer.early_stopping.patienc=2", "trainer.early_stopping.patienc", "did you mean 'patience'"),
        ("trainer.learning_rate=0", "trainer.learning_rate", "must be > 0"),
        ("trainer.learning_rate=-0.1", "trainer.learning_rate", "must be > 0"),
        ("trainer.max_epochs=abc", "trainer.max_epochs", "expected int"),
        ("trainer.max_epochs=1.5", "trainer.max_epochs", "expected int"),
        ("data.batch_size=0", "data.batch_size", "must be >= 1"),
        ("arch.hidden=0", "arch.hidden", "must be >= 1"),
        ("data.split_method=sideways", "data.split_method", "choose one of"),
        ("data.task=forecasting", "data.task", "choose one of: regression, classification"),
        ("data.in_chunk=[5,1]", "data.in_chunk", "after end"),
        ("data.in_chunk=[1,2,3]", "data.in_chunk", "expected 2 values"),
        ("data.split_portions=[0.5,0.2,0.2]", "data.split_portions", "sum to 1"),
        ("trainer.precision=8", "trainer.precision", "choose one of"),
        ("seed=-1", "seed", "must be >= 0"),
        ("trainer.early_stopping.mode=up", "trainer.early_stopping.mode", "choose one of: min, max"),
        ("data.shuffle_train=maybe", "data.shuffle_train", "expected bool"),
    ],
)
def test_bad_value_names_key(override: str, key: str, fragment: str) -> None:
    with pytest.raises(KnowItConfigError) as info:
        _validate([override])
    message = str(info.value)
    assert message.startswith(key + ":"), message
    assert fragment in message
    assert "\n" not in message


def test_unknown_key_lists_allowed_keys() -> None:
    with pytest.raises(KnowItConfigError) as info:
        _validate(["trainer.max_epohs=3"])
    assert "allowed keys:" in str(info.value) and "learning_rate" in str(info.value)


def test_unknown_group_choice_lists_choices() -> None:
    with pytest.raises(KnowItConfigError) as info:
        compose(["data=nope"])
    assert str(info.value).startswith("data:")
    assert "synth_regression" in str(info.value)


def test_unknown_arch_lists_available() -> None:
    with pytest.raises(KnowItConfigError) as info:
        validate(compose(["arch.name=transformerz"]))
    assert str(info.value).startswith("arch.name:")
    assert "dotted path" in str(info.value)


def test_config_error_is_a_value_error() -> None:
    # callers that only know the standard library can catch a bad config as a ValueError
    with pytest.raises(ValueError, match=r"^trainer.max_epohs: ") as info:
        validate(compose(["trainer.max_epohs=3"]))
    assert isinstance(info.value, KnowItConfigError)


def test_choices_are_case_insensitive_and_canonical() -> None:
    cfg = _validate(["data.split_method=Chronological", "trainer.early_stopping.mode=MAX"])
    assert cfg.data.split_method == "chronological"
    assert cfg.trainer.early_stopping.mode == "max"


def test_overrides_reach_typed_config() -> None:
    cfg = _validate(["trainer.max_epochs=7", "arch.hidden=5", "data.in_chunk=[-3,0]", "seed=9"])
    assert cfg.trainer.max_epochs == 7 and cfg.arch.args.hidden == 5
    assert cfg.data.in_chunk == [-3, 0] and cfg.seed == 9


def test_normalize_overrides_keeps_group_choices() -> None:
    assert normalize_overrides(["data=synth_classification", "arch.width=3", "hydra.verbose=true", "+x=1"]) == [
        "data=synth_classification", "++arch.width=3", "hydra.verbose=true", "+x=1",
    ]


def test_knowit_kwargs_form_and_task_agreement() -> None:
    kwargs = {
        "data": {"name": "synth_regression", "task": "regression", "in_chunk": [-5, 5], "batch_size": 16},
        "arch": {"task": "regression", "name": TINY_ARCH, "arch_hps": {"arch_args": {"hidden": 3}}},
        "trainer": {"loss_fn": "mse_loss", "optim": "Adam", "max_epochs": 2, "learning_rate": 0.01, "task": "regression"},
    }
    cfg = validate(config_from_kwargs(kwargs))
    assert cfg.data.in_chunk == [-5, 5] and cfg.data.batch_size == 16
    assert cfg.data.in_components == ["x1", "x2", "x3", "x4"]  # kept from the dataset's group file
    assert cfg.arch.args.hidden == 3 and cfg.trainer.learning_rate == 0.01
    kwargs["trainer"]["task"] = "classification"
    with pytest.raises(KnowItConfigError, match=r"^trainer.task:"):
        config_from_kwargs(kwargs)


def test_kwargs_unknown_group() -> None:
    with pytest.raises(KnowItConfigError, match=r"^kwargs.dta:"):
        config_from_kwargs({"dta": {}})


def test_experiment_files_override_groups_and_keys() -> None:
    """Every shipped experiment composes and validates; its values reach the typed config."""
    from importlib.resources import files

    names = sorted(p.name[:-5] for p in files("knowit.conf").joinpath("experiment").iterdir() if p.name.endswith(".yaml"))
    assert "lstm_regression" in names
    for name in names:
        validate(compose([f"experiment={name}"]))
    cfg = validate(compose(["experiment=lstm_regression", "trainer.max_epochs=2"]))
    assert cfg.root.model_name == "lstm_regression" and cfg.arch.args.width == 64 and cfg.trainer.max_epochs == 2
    with pytest.raises(KnowItConfigError, match="experiment.*available choices: .*lstm_regression"):
        compose(["experiment=nope"])

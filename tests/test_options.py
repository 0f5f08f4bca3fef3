"""The options of predict, viz, interpret, compare and backtest are schema dataclasses checked by the
config validator: a bad option is one line starting with its key, before any run is read."""
from __future__ import annotations

import pytest

from knowit.errors import KnowItConfigError

BAD_API_CALLS = [
    (lambda ki: ki.compare(["a"]), "model_names: name at least two trained models to compare"),
    (lambda ki: ki.compare(["a", "a"]), "model_names: a model is named twice"),
    (lambda ki: ki.compare(["a", "b"], "tset"), "set_name: 'tset' is not a valid choice (did you mean 'test'?); choose one of: train, valid, test"),
    (lambda ki: ki.compare(["a", "b"], loss="abs"), "loss: 'abs' is not a valid choice; choose one of: squared, absolute"),
    (lambda ki: ki.compare(["a", "b"], name="x/y"), "name: 'x/y' cannot be a directory name"),
    (lambda ki: ki.compare("ab"), "model_names: expected a list of str, got 'ab'"),
    (lambda ki: ki.backtest("m", 0), "folds: 0 is out of range; it must be >= 1"),
    (lambda ki: ki.backtest("m", True), "folds: expected int, got True"),
    (lambda ki: ki.backtest("m", mode="slide"), "mode: 'slide' is not a valid choice (did you mean 'sliding'?); choose one of: expanding, sliding"),
    (lambda ki: ki.backtest("m", refit="yes"), "refit: expected bool, got 'yes'"),
    (lambda ki: ki.visualize("m", min_probability=2), "min_probability: 2.0 is out of range; it must be <= 1.0"),
    (lambda ki: ki.visualize("m", "tests"), "set_name: 'tests' is not a valid choice (did you mean 'test'?); choose one of: train, valid, test"),
    (lambda ki: ki.generate_predictions("m", {"predictor": {"prediction_set": "dev"}}), "predictor.prediction_set: 'dev' is not a valid choice; choose one of: train, valid, test"),
    (lambda ki: ki.generate_predictions("m", {"predicter": {}}), "kwargs.predicter: unknown key; predicting takes {'predictor': {...}}"),
    (lambda ki: ki.interpret_model("m", {"interpreter": {"size": 0}}), "interpreter.size: 0 is out of range; it must be >= 1"),
]


@pytest.mark.parametrize("call,message", BAD_API_CALLS, ids=[m.split(":")[0] + str(i) for i, (_, m) in enumerate(BAD_API_CALLS)])
def test_a_bad_option_is_refused_by_the_validator_before_any_run_is_read(ki, call, message) -> None:
    # "m", "a" and "b" do not exist: the option error must come first, so nothing was looked up
    with pytest.raises(KnowItConfigError) as caught:
        call(ki)
    assert str(caught.value) == message
    assert not (ki.exp_dir / "comparisons").exists()


@pytest.mark.parametrize("args,line", [
    (["backtest", "m", "--mode", "slide"], "knowit: error: mode: 'slide' is not a valid choice (did you mean 'sliding'?); choose one of: expanding, sliding"),
    (["compare", "a", "b", "--set", "dev"], "knowit: error: set_name: 'dev' is not a valid choice; choose one of: train, valid, test"),
    (["viz", "m", "--min-probability", "-0.5"], "knowit: error: min_probability: -0.5 is out of range; it must be >= 0.0"),
])
def test_the_cli_reports_a_bad_option_in_one_line_with_exit_2(cli_main, exp_dir, tmp_path, args, line) -> None:
    done = cli_main([*args, "--exp-dir", str(exp_dir)], cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == line


def test_the_option_schemas_are_in_the_config_reference() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "config_reference.md").read_text()
    for key in ("predictor.prediction_set", "interpreter.interpretation_method", "model_names", "loss", "folds", "mode", "refit", "min_probability"):
        assert f"| `{key}` |" in text, key

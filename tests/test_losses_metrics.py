"""Any loss and any metric: torch.nn.functional losses, the pinball loss, torchmetrics classes by
name with arguments, the user's own callables by dotted path, each checked before training."""
from __future__ import annotations

import pytest
import torch

from knowit.errors import KnowItConfigError
from knowit.training.losses import check_loss_name, make_loss, pinball_loss
from knowit.training.metrics import check_metric_names, metric_key

from conftest import TINY_ARCH, TINY_TRAINER

FULL_EVAL = {**TINY_TRAINER, "limit_val_batches": 1.0, "limit_test_batches": 1.0}


def test_pinball_loss_weights_under_and_over_prediction_by_the_quantile():
    target = torch.tensor([1.0, 1.0])
    output = torch.tensor([0.0, 3.0])  # under by 1, over by 2
    assert pinball_loss(output, target, quantile=0.9).item() == pytest.approx((0.9 * 1 + 0.1 * 2) / 2)
    assert pinball_loss(output, target, quantile=0.5).item() == pytest.approx(0.5 * torch.nn.functional.l1_loss(output, target).item())
    loss = make_loss(check_loss_name("pinball_loss", "regression", {"quantile": 0.1}), {"quantile": 0.1})
    assert loss(output, target).item() == pytest.approx((0.1 * 1 + 0.9 * 2) / 2)


def test_any_functional_loss_and_a_dotted_path_with_kwargs():
    out, target = torch.tensor([[0.5, 2.0]]), torch.tensor([[1.0, 1.0]])
    assert make_loss(check_loss_name("poisson_nll_loss", "regression", {"log_input": False}), {"log_input": False})(out, target).item() == pytest.approx(
        torch.nn.functional.poisson_nll_loss(out, target, log_input=False).item())
    name = check_loss_name("user_archs.metrics.doubled_mse", "regression", {"factor": 3.0})
    assert make_loss(name, {"factor": 3.0})(out, target).item() == pytest.approx(3 * 0.625)


@pytest.mark.parametrize("name, kwargs, match", [
    ("mse", {}, r"^trainer\.loss_fn: 'mse' is not a loss; choose one of: .*mse_loss.*pinball_loss.*poisson_nll_loss.*dotted path"),
    ("mse_loss", {"delta": 1.0}, r"^trainer\.loss_kwargs\.delta: mse_loss takes no argument 'delta'; it takes: .*reduction"),
    ("pinball_loss", {}, r"^trainer\.loss_fn: pinball_loss is a regression loss"),
    ("user_archs.metrics.nothing_here", {}, r"^trainer\.loss_fn: module 'user_archs\.metrics' has no 'nothing_here'"),
    ("no_such_pkg.loss", {}, r"^trainer\.loss_fn: cannot import module 'no_such_pkg'"),
])
def test_bad_losses_are_one_line_naming_the_key(name, kwargs, match):
    task = "classification" if name == "pinball_loss" else "regression"
    with pytest.raises(KnowItConfigError, match=match):
        check_loss_name(name, task, kwargs)


def test_metric_names_keys_and_refusals():
    entries = check_metric_names(["MAE", "MeanSquaredLogError", {"name": "MeanSquaredError", "squared": False}, "user_archs.metrics.max_error"], "regression")
    assert [metric_key(e) for e in entries] == ["mae", "mean_squared_log_error", "mean_squared_error", "max_error"]
    with pytest.raises(KnowItConfigError, match=r"^trainer\.performance_metrics\[1\]: 'rsquared' is not a regression metric; choose from: r2, mae, .*any torchmetrics class"):
        check_metric_names(["r2", "rsquared"], "regression")
    with pytest.raises(KnowItConfigError, match=r"^trainer\.performance_metrics\[0\]: 'accuracy' is not a regression metric"):
        check_metric_names(["accuracy"], "regression")
    with pytest.raises(KnowItConfigError, match=r"^trainer\.performance_metrics\[0\]: MeanSquaredError cannot be built with \{'squaredd': False\}"):
        check_metric_names([{"name": "MeanSquaredError", "squaredd": False}], "regression")
    with pytest.raises(KnowItConfigError, match=r"^trainer\.performance_metrics\[1\]: 'MeanAbsoluteError' is logged as 'mean_absolute_error', like entry 0"):
        check_metric_names(["mean_absolute_error", "MeanAbsoluteError"], "regression")


def test_torchmetrics_and_user_metrics_are_logged_over_the_whole_set(ki):
    metrics = ["rmse", {"name": "MeanSquaredError", "squared": False}, "ExplainedVariance", "user_archs.metrics.max_error"]
    result = ki.train_model("custom", {"arch": {"name": TINY_ARCH}, "trainer": {**FULL_EVAL, "performance_metrics": metrics}})
    m = result.metrics
    assert m["test_mean_squared_error"] == pytest.approx(m["test_rmse"], rel=1e-6)  # same metric, given with kwargs
    assert m["test_max_error"] >= m["test_rmse"] > 0 and "valid_explained_variance" in m


def test_classification_torchmetrics_get_the_number_of_classes(ki):
    result = ki.train_model("kappa", {"data": {"name": "synth_classification"}, "arch": {"name": TINY_ARCH},
                                      "trainer": {**TINY_TRAINER, "performance_metrics": ["accuracy", "CohenKappa", {"name": "Accuracy", "average": "macro", "log_as": "balanced_accuracy"}]}})
    assert -1 <= result.metrics["valid_cohen_kappa"] <= 1 and 0 <= result.metrics["valid_balanced_accuracy"] <= 1


@pytest.mark.parametrize("metric, match", [
    ("user_archs.metrics.broken", r"performance_metrics\[1\]: user_archs\.metrics\.broken fails on one batch of this data: ValueError: this metric needs"),
    ("user_archs.metrics.per_sample", r"performance_metrics\[1\]: user_archs\.metrics\.per_sample must return one number per epoch"),
])
def test_a_custom_metric_that_fails_on_one_batch_stops_before_training(ki, exp_dir, metric, match):
    with pytest.raises(KnowItConfigError, match=match):
        ki.train_model("bad", {"arch": {"name": TINY_ARCH}, "trainer": {**TINY_TRAINER, "performance_metrics": ["mae", metric]}})
    assert not (exp_dir / "models" / "bad").exists()

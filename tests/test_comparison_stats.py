"""The comparison statistics agree with statsmodels/scipy and behave as tests should (pure numpy, fast)."""
from __future__ import annotations

import numpy as np
import pytest

from knowit.comparison import stats


def test_t_quantile_and_interval_match_scipy() -> None:
    from scipy import stats as sps

    for df in (1, 2, 4, 9, 30, 200):
        assert stats.t_ppf(0.975, df) == pytest.approx(sps.t.ppf(0.975, df), rel=1e-9)
        assert stats.t_sf(1.7, df) == pytest.approx(sps.t.sf(1.7, df), rel=1e-9)
    values = np.array([0.41, 0.38, 0.45, 0.40, 0.43])
    low, high = sps.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=sps.sem(values))
    got = stats.t_interval(values)
    assert (got.low, got.high) == pytest.approx((low, high), rel=1e-10)
    assert got.std == pytest.approx(values.std(ddof=1))


def test_diebold_mariano_is_the_hac_t_statistic_of_statsmodels_with_the_small_sample_correction() -> None:
    """statsmodels' HAC t-statistic of the mean loss difference, scaled by Harvey, Leybourne and
    Newbold's factor, against Student's t with n - 1 degrees of freedom (scipy)."""
    import statsmodels.api as sm
    from scipy import stats as sps

    rng = np.random.default_rng(0)
    for n in (300, 6):
        a = rng.standard_normal(n) ** 2
        noise = rng.standard_normal(n + 2)
        b = (0.2 + noise[2:] + 0.6 * noise[1:-1] + 0.3 * noise[:-2]) ** 2  # MA(2) errors: a 3-step forecast
        for horizon in (1, 3):
            ours = stats.diebold_mariano(a, b, horizon=horizon)
            fit = sm.OLS(a - b, np.ones(n)).fit(cov_type="HAC", cov_kwds={"maxlags": horizon - 1, "use_correction": False})
            expected = float(fit.tvalues[0]) * np.sqrt((n + 1 - 2 * horizon + horizon * (horizon - 1) / n) / n)
            assert ours.statistic == pytest.approx(expected, rel=1e-9)
            assert ours.p_value == pytest.approx(2 * sps.t.sf(abs(expected), n - 1), rel=1e-7)
            assert ours.detail["hac_lag"] == horizon - 1
    assert stats.diebold_mariano(np.ones(2), np.zeros(2), horizon=3).p_value == 1.0  # 2 points cannot test 3-step forecasts


def test_diebold_mariano_keeps_its_size_on_a_test_set_of_a_few_points() -> None:
    """A monthly series' test set holds 5-6 points: the normal p-value rejected equal 3-step
    forecasts in 30 % of trials at n=6 (a compare of two runs on 5 months said p 1.6e-33)."""
    n, trials = 6, 400
    false_alarms = 0
    for seed in range(trials):
        rng = np.random.default_rng(seed)
        ma = lambda e: e[2:] + 0.8 * e[1:-1] + 0.8 * e[:-2]  # noqa: E731 - MA(2) errors of a 3-step forecast
        shared, own = ma(rng.standard_normal(n + 2)), rng.standard_normal((2, n + 2))
        false_alarms += stats.diebold_mariano((shared + 0.7 * ma(own[0])) ** 2, (shared + 0.7 * ma(own[1])) ** 2, horizon=3).p_value < 0.05
    assert false_alarms <= 0.08 * trials


def test_mcnemar_exact_and_chi_square_match_statsmodels() -> None:
    from statsmodels.stats.contingency_tables import mcnemar

    def arrays(both: int, only_a: int, only_b: int, neither: int):
        a = np.array([1] * both + [1] * only_a + [0] * only_b + [0] * neither, bool)
        b = np.array([1] * both + [0] * only_a + [1] * only_b + [0] * neither, bool)
        return a, b

    for cells, exact in (((50, 9, 2, 10), True), ((400, 60, 35, 5), False)):
        a, b = arrays(*cells)
        ours = stats.mcnemar(a, b)
        table = [[cells[0], cells[1]], [cells[2], cells[3]]]
        ref = mcnemar(table, exact=exact, correction=True)
        assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-9)
        assert ours.detail["only_a_correct"] == cells[1] and ours.detail["only_b_correct"] == cells[2]
    assert stats.mcnemar(*arrays(10, 0, 0, 3)).p_value == 1.0  # no discordant pair: nothing to tell apart


def test_holm_matches_statsmodels() -> None:
    from statsmodels.stats.multitest import multipletests

    p = [0.01, 0.04, 0.03, 0.2, 0.005]
    assert stats.holm(p) == pytest.approx(list(multipletests(p, method="holm")[1]))


def test_diebold_mariano_keeps_its_size_on_equal_models_and_rejects_a_better_one() -> None:
    """Two forecasts differing only by noise: rejected at 5 % in at most 10 % of seeded trials
    (3-step forecasts, autocorrelated errors, so the HAC variance matters); a clearly better
    forecast is rejected in nearly every trial."""
    n, trials, horizon = 400, 200, 3
    false_alarms = detections = 0
    for seed in range(trials):
        rng = np.random.default_rng(seed)
        truth_noise = rng.standard_normal(n + 2)
        shared = truth_noise[2:] + 0.8 * truth_noise[1:-1] + 0.8 * truth_noise[:-2]  # MA(2) forecast errors
        own = rng.standard_normal((3, n + 2))
        ma = lambda e: e[2:] + 0.8 * e[1:-1] + 0.8 * e[:-2]  # noqa: E731
        err_a, err_b = shared + 0.7 * ma(own[0]), shared + 0.7 * ma(own[1])
        err_better = shared * 0.6 + 0.3 * ma(own[2])
        false_alarms += stats.diebold_mariano(err_a**2, err_b**2, horizon=horizon).p_value < 0.05
        detections += stats.diebold_mariano(err_better**2, err_a**2, horizon=horizon).p_value < 0.05
    assert false_alarms <= 0.10 * trials
    assert detections >= 0.95 * trials

"""Bootstrap intervals and the paired test on constructed cases with known answers."""

import numpy as np
import pytest

from reports.stats import bootstrap_average_ci, bootstrap_mean_ci, holm, paired_bootstrap


def test_mean_is_mean_over_seeds_of_per_seed_accuracy():
    mean, low, high = bootstrap_mean_ci(np.array([[1, 1, 0, 0], [1, 1, 1, 0]], dtype=bool), n_boot=500)
    assert mean == 0.625
    assert low <= mean <= high


@pytest.mark.parametrize("value", [0, 1])
@pytest.mark.parametrize("seeds", [1, 3])
def test_interval_is_degenerate_when_every_question_has_the_same_outcome(value, seeds):
    assert bootstrap_mean_ci(np.full((seeds, 7), value), n_boot=300) == (value, value, value)


def test_interval_width_matches_the_binomial_standard_error():
    correct = np.arange(400) % 2  # 50% of 400 questions: 95% half-width about 1.96 * 0.025
    mean, low, high = bootstrap_mean_ci(correct, n_boot=4000)
    assert mean == 0.5
    assert high - mean == pytest.approx(0.049, abs=0.008)
    assert mean - low == pytest.approx(0.049, abs=0.008)


def test_seeds_are_resampled_when_there_are_several():
    # every question alike within a seed: only the seed draw moves the mean (0, 0.5 or 1)
    mean, low, high = bootstrap_mean_ci(np.array([np.ones(5), np.zeros(5)]), n_boot=2000)
    assert (mean, low, high) == (0.5, 0.0, 1.0)


def test_questions_are_paired_across_seeds():
    # two identical seeds: with one question draw shared by the seeds (and any seed draw) each
    # replicate equals the one-seed replicate; independent draws per seed would narrow the interval
    one = np.random.default_rng(2).random(60) < 0.5
    assert bootstrap_mean_ci(np.array([one, one]), n_boot=1000) == bootstrap_mean_ci(one, n_boot=1000)


def test_same_seed_same_answer():
    correct = np.random.default_rng(3).random((2, 50)) < 0.4
    assert bootstrap_mean_ci(correct, n_boot=300, seed=7) == bootstrap_mean_ci(correct, n_boot=300, seed=7)
    assert bootstrap_mean_ci(correct, n_boot=300, seed=7) != bootstrap_mean_ci(correct, n_boot=300, seed=8)


def test_average_weighs_benchmarks_equally():
    mean, low, high = bootstrap_average_ci([np.ones((2, 2)), np.zeros((2, 6))], n_boot=300)
    assert (mean, low, high) == (0.5, 0.5, 0.5)


def test_average_of_one_block_is_the_mean_ci():
    correct = np.random.default_rng(0).random((2, 30)) < 0.5
    assert bootstrap_average_ci([correct], n_boot=300) == bootstrap_mean_ci(correct, n_boot=300)


def test_identical_arms_give_zero_difference_and_p_one():
    a = np.random.default_rng(1).random((2, 40)) < 0.5
    test = paired_bootstrap(a, a, n_boot=500)
    assert test == {"diff": 0.0, "low": 0.0, "high": 0.0, "p_value": 1.0, "n": 40}


def test_an_arm_right_everywhere_the_other_is_wrong_gives_the_smallest_p():
    test = paired_bootstrap(np.ones((1, 30)), np.zeros((2, 30)), n_boot=999)
    assert test["diff"] == 1.0 and test["low"] == test["high"] == 1.0
    assert test["p_value"] == 2 / 1000


def test_p_value_on_two_questions_is_one_half():
    # d = [1, 0]: d* is 0 with probability 1/4, so p = 2 * 1/4
    test = paired_bootstrap(np.array([[1, 1]]), np.array([[0, 1]]), n_boot=20000)
    assert test["diff"] == 0.5
    assert test["p_value"] == pytest.approx(0.5, abs=0.03)
    assert (test["low"], test["high"]) == (0.0, 1.0)


def test_p_value_is_symmetric_in_the_arms():
    rng = np.random.default_rng(5)
    a, b = rng.random((2, 60)) < 0.6, rng.random((3, 60)) < 0.45
    ab, ba = paired_bootstrap(a, b, n_boot=800), paired_bootstrap(b, a, n_boot=800)
    assert ab["diff"] == pytest.approx(-ba["diff"])
    assert ab["p_value"] == pytest.approx(ba["p_value"])


def test_ties_in_thirds_count_as_zero():
    # seed-averaged differences +1/3 and -1/3: d* is 0 (up to rounding) half the time -> p = 1
    a = np.array([[1, 0], [0, 0], [0, 0]])
    b = np.array([[0, 1], [0, 0], [0, 0]])
    assert paired_bootstrap(a, b, n_boot=2000)["p_value"] == 1.0


def test_seed_averaging_in_the_paired_test():
    a = np.array([[1, 1, 1, 0], [1, 1, 1, 1]])  # per question 1, 1, 1, 0.5
    b = np.array([[1, 1, 0, 0], [1, 1, 1, 0]])  # per question 1, 1, 0.5, 0
    assert paired_bootstrap(a, b, n_boot=200)["diff"] == 0.25


@pytest.mark.parametrize("bad, message", [
    (np.array([[1.0, np.nan]]), "NaN"),
    (np.zeros((1, 0)), "non-empty"),
    (np.zeros((2, 2, 2)), "matrix"),
])
def test_bad_matrices_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        bootstrap_mean_ci(bad)


def test_arms_must_cover_the_same_questions():
    with pytest.raises(ValueError, match="same questions"):
        paired_bootstrap(np.ones((1, 3)), np.ones((1, 4)))


def test_average_blocks_need_the_same_seeds():
    with pytest.raises(ValueError, match="same seeds"):
        bootstrap_average_ci([np.ones((2, 3)), np.ones((1, 3))])


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_mean_ci(np.ones(3), n_boot=0)
    with pytest.raises(ValueError, match="level"):
        paired_bootstrap(np.ones(3), np.ones(3), level=1.5)


def test_holm_adjustment():
    adjusted = holm([0.01, 0.04, 0.03, np.nan, 0.5])
    np.testing.assert_allclose(adjusted, [0.04, 0.09, 0.09, np.nan, 0.5])
    assert holm([]).size == 0


def test_large_inputs_give_the_normal_approximations_interval():
    """(Speed is benchmarks/bench_report.py's business.) With many questions the percentile interval
    is the normal approximation's, mean +- 1.96 sqrt(p (1 - p) / n), worked out independently."""
    correct = np.random.default_rng(0).random((3, 3000)) < 0.5
    mean, low, high = bootstrap_mean_ci(correct, n_boot=2000)
    assert low < mean < high
    one_seed = correct.reshape(1, -1)
    p = one_seed.mean()
    half = 1.96 * np.sqrt(p * (1 - p) / one_seed.size)
    mean, low, high = bootstrap_mean_ci(one_seed, n_boot=2000)
    assert mean == pytest.approx(p)
    assert low == pytest.approx(p - half, abs=0.15 * half) and high == pytest.approx(p + half, abs=0.15 * half)

import pytest

from durian.step_stats import reward_statistics


def test_counts_effective_and_extreme_prompts():
    # four prompts of n=4, rows interleaved as after verl's balance_batch
    per_prompt = {
        "a": [1.0, 1.0, 1.0, 0.1],  # one wrong: extreme success, effective
        "b": [0.0, 0.1, 0.1, 1.0],  # one right: extreme failure, effective
        "c": [1.0, 1.0, 1.0, 1.0],  # all right: not effective
        "d": [0.1, 0.0, 1.0, 1.0],  # two right
    }
    rows = [(u, s) for i in range(4) for u, scores in per_prompt.items() for s in [scores[i]]]
    stats = reward_statistics([s for _, s in rows], [u for u, _ in rows], prefix="")
    assert stats["prompts"] == 4
    assert stats["effective"] == 3 and stats["effective_share"] == pytest.approx(0.75)
    assert stats["extreme_success"] == 1 and stats["extreme_failure"] == 1
    assert stats["extreme_success_share"] == pytest.approx(0.25)
    assert stats["accuracy"] == pytest.approx(10 / 16)


def test_single_rollouts_are_never_extreme_and_bad_lengths_fail():
    stats = reward_statistics([1.0, 0.0], ["a", "b"], prefix="")
    assert stats["extreme_success"] == 0 and stats["extreme_failure"] == 0 and stats["effective"] == 0
    with pytest.raises(ValueError, match="scores"):
        reward_statistics([1.0], ["a", "b"])

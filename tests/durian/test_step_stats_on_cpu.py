import pytest

from durian.step_stats import advantage_statistics, reward_statistics


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


def test_advantages_of_extreme_prompts_lone_rollouts_beside_the_others():
    """GRPO's advantages (reward - mean) / std, std unbiased, worked out by hand for n = 4:
    one right of four, [1, 0, 0, 0]: mean 0.25, std 0.5, so +1.5 for the lone right one and
    -0.5 for the others; two right of four, [1, 1, 0, 0]: std 0.57735, so +-0.866."""
    scores = [1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]
    uid = ["a"] * 4 + ["b"] * 4 + ["c"] * 4
    advantages = [1.5, -0.5, -0.5, -0.5, 0.866, 0.866, -0.866, -0.866, 0.0, 0.0, 0.0, 0.0]
    stats = advantage_statistics(advantages, scores, uid, prefix="")
    assert stats == {"lone_advantage": pytest.approx(1.5), "other_advantage": pytest.approx(0.866)}
    # one wrong of four (extreme success): the lone one is the wrong answer, scored 0.1 for format
    stats = advantage_statistics([0.5, 0.5, 0.5, -1.5], [1.0, 1.0, 1.0, 0.1], ["d"] * 4, prefix="")
    assert stats == {"lone_advantage": pytest.approx(1.5)}
    assert advantage_statistics([0.0, 0.0], [1.0, 1.0], ["e", "e"]) == {}
    with pytest.raises(ValueError, match="advantages"):
        advantage_statistics([1.0], [1.0, 0.0], ["a", "a"])

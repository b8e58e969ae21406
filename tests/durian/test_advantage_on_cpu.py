import numpy as np
import pytest
import spec_reference as ref
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from durian.advantage import (
    ablation_weights,
    durian_advantage,
    durian_advantage_with_groups,
    group_mean_batch_std_advantage,
    grpo_advantage,
    perceptual_groups,
    reasoning_groups,
    shared_std_advantage,
)

REWARD_LEVELS = [0.0, 0.1, 0.9, 1.0]  # format reward makes these the possible values


def random_batch(seed, batch=24, rollouts=8, ties=False):
    g = torch.Generator().manual_seed(seed)
    scores = torch.tensor(REWARD_LEVELS)[torch.randint(0, 4, (batch, rollouts), generator=g)]
    entropy = torch.rand(batch, generator=g, dtype=torch.float64) * 5
    confidence = -torch.rand(batch, generator=g, dtype=torch.float64) * 3
    if ties:
        entropy = entropy.round()
        confidence = (confidence * 2).round() / 2
    return scores, entropy, confidence


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("ties", [False, True])
def test_groups_match_the_spec_loops(seed, ties):
    _, entropy, confidence = random_batch(seed, batch=37, ties=ties)
    assert perceptual_groups(entropy).tolist() == ref.perceptual_groups(entropy.tolist())
    for b in (1, 2, 4, 12, 48):
        assert reasoning_groups(confidence, b).tolist() == ref.reasoning_groups(confidence.tolist(), b)


def test_quantile_groups_split_a_permutation_evenly():
    values = torch.randperm(120, generator=torch.Generator().manual_seed(0)).double()
    assert torch.bincount(reasoning_groups(values, 12)).tolist() == [10] * 12
    counts = torch.bincount(perceptual_groups(values)).tolist()
    assert counts == [30, 60, 30]
    # lower entropy -> lower group; lower confidence -> lower group
    order = values.argsort()
    assert (perceptual_groups(values)[order].diff() >= 0).all()
    assert (reasoning_groups(values, 12)[order].diff() >= 0).all()


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("weights", [(0.1, 0.2, 0.7), (1.0, 0.0, 0.0), (0.0, 0.5, 0.5), (0.3, 0.3, 0.4)])
@pytest.mark.parametrize("num_groups", [1, 4, 12])
def test_durian_matches_the_spec_loops(seed, weights, num_groups):
    scores, entropy, confidence = random_batch(seed, ties=seed % 2 == 1)
    got = durian_advantage(scores, entropy, confidence, weights, num_groups)
    want = ref.durian_advantage(scores.tolist(), entropy.tolist(), confidence.tolist(), weights, num_groups)
    np.testing.assert_allclose(got.numpy(), np.array(want), rtol=1e-5, atol=1e-5)


def test_pooled_std_is_shared_within_a_group_and_the_mean_stays_the_samples_own():
    scores = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0], [1.0, 0.0]])
    groups = torch.tensor([0, 0, 1, 1])
    adv = shared_std_advantage(scores, groups, eps=1e-6)
    sigma0 = torch.tensor([1.0, 0.0, 1.0, 1.0]).std()  # unbiased over the 4 pooled rewards
    torch.testing.assert_close(adv[0], torch.tensor([0.5, -0.5]) / (sigma0 + 1e-6))
    assert adv[1].tolist() == [0.0, 0.0] and adv[2].tolist() == [0.0, 0.0]


def test_grpo_matches_verls_grpo_estimators():
    from verl.trainer.ppo.core_algos import get_adv_estimator_fn

    scores, _, _ = random_batch(3, batch=16, rollouts=5)
    rows = scores.reshape(-1)
    token_rewards = torch.zeros(rows.shape[0], 7)
    token_rewards[:, -1] = rows
    mask = torch.ones_like(token_rewards)
    index = np.repeat(np.arange(16), 5)
    for name in ("grpo", "grpo_vectorized"):
        verl_adv, _ = get_adv_estimator_fn(name)(token_level_rewards=token_rewards, response_mask=mask, index=index)
        torch.testing.assert_close(grpo_advantage(scores).reshape(-1), verl_adv[:, 0], rtol=1e-5, atol=1e-6)


def test_special_cases_reduce_to_the_baselines():
    scores, entropy, confidence = random_batch(5)
    torch.testing.assert_close(durian_advantage(scores, entropy, confidence, (1.0, 0.0, 0.0)), grpo_advantage(scores))
    torch.testing.assert_close(
        durian_advantage(scores, entropy, confidence, (0.0, 0.0, 1.0), num_reasoning_groups=1),
        group_mean_batch_std_advantage(scores),
    )
    durian = durian_advantage(scores, entropy, confidence)
    assert not torch.allclose(durian, grpo_advantage(scores))


def test_group_info_reports_the_groups_used():
    scores, entropy, confidence = random_batch(1, batch=48)
    _, info = durian_advantage_with_groups(scores, entropy, confidence, num_reasoning_groups=12)
    assert set(info["perceptual_groups"].tolist()) == {0, 1, 2}
    assert set(info["reasoning_groups"].tolist()) == set(range(12))
    assert info["reasoning_std"].shape == (12,) and info["perceptual_std"].shape == (3,)
    _, info = durian_advantage_with_groups(scores, entropy, confidence, weights=(0.5, 0.5, 0.0))
    assert "reasoning_groups" not in info


@st.composite
def degenerate_batches(draw):
    batch = draw(st.integers(1, 14))
    rollouts = draw(st.integers(1, 9))
    level = st.sampled_from(REWARD_LEVELS)
    scores = draw(st.lists(st.lists(level, min_size=rollouts, max_size=rollouts), min_size=batch, max_size=batch))
    if draw(st.booleans()):  # everything equal
        scores = [[scores[0][0]] * rollouts for _ in range(batch)]
    value = st.floats(-5, 5, allow_nan=False, width=32) | st.sampled_from([0.0, 1.0])
    entropy = draw(st.lists(value, min_size=batch, max_size=batch))
    confidence = draw(st.lists(value, min_size=batch, max_size=batch))
    num_groups = draw(st.integers(1, 20))  # often more groups than samples
    a, b = draw(st.floats(0, 1)), draw(st.floats(0, 1))
    lo, hi = min(a, b), max(a, b)
    weights = (lo, hi - lo, 1.0 - hi)
    return (torch.tensor(scores), torch.tensor(entropy), torch.tensor(confidence), weights, num_groups)


@settings(max_examples=300, deadline=None)
@given(degenerate_batches())
def test_degenerate_batches_give_finite_advantages_and_zero_for_zero_variance(batch):
    scores, entropy, confidence, weights, num_groups = batch
    weights = tuple(w / sum(weights) for w in weights)
    adv = durian_advantage(scores, entropy, confidence, weights, num_groups)
    assert adv.shape == scores.shape
    assert torch.isfinite(adv).all()
    constant = scores.amax(1) == scores.amin(1)
    assert (adv[constant] == 0).all()
    # advantages keep each sample's ranking of its rollouts
    assert ((adv.unsqueeze(2) - adv.unsqueeze(1)) * (scores.unsqueeze(2) - scores.unsqueeze(1)) >= 0).all()
    want = ref.durian_advantage(scores.tolist(), entropy.tolist(), confidence.tolist(), weights, num_groups)
    np.testing.assert_allclose(adv.numpy(), np.array(want), rtol=1e-4, atol=1e-4)


def bad(message, fn, *args, **kwargs):
    with pytest.raises(ValueError, match=message):
        fn(*args, **kwargs)


def test_bad_inputs_name_the_argument_and_the_sample():
    scores, entropy, confidence = random_batch(0, batch=6, rollouts=4)
    nan_scores = scores.clone()
    nan_scores[3, 1] = float("nan")
    bad(r"scores: non-finite .* sample index 3", durian_advantage, nan_scores, entropy, confidence)
    inf_entropy = entropy.clone()
    inf_entropy[4] = float("inf")
    bad(r"entropy: non-finite .* sample index 4", durian_advantage, scores, inf_entropy, confidence)
    nan_conf = confidence.clone()
    nan_conf[0] = float("nan")
    bad(r"confidence: non-finite .* sample index 0", durian_advantage, scores, entropy, nan_conf)
    bad(r"scores: expected a tensor of shape \[B, G\]", durian_advantage, scores[0], entropy, confidence)
    bad(r"entropy: expected 6 values", durian_advantage, scores, entropy[:5], confidence)
    bad(r"confidence: expected a 1-D", durian_advantage, scores, entropy, confidence[:, None])
    bad(r"weights: must sum to 1", durian_advantage, scores, entropy, confidence, (0.2, 0.2, 0.2))
    bad(r"weights: must be finite and non-negative", durian_advantage, scores, entropy, confidence, (-0.1, 0.4, 0.7))
    bad(r"weights: expected 3 values", durian_advantage, scores, entropy, confidence, (0.5, 0.5))
    bad(r"num_reasoning_groups: must be an integer >= 1", durian_advantage, scores, entropy, confidence, (0.1, 0.2, 0.7), 0)
    bad(r"num_groups: must be an integer >= 1", reasoning_groups, confidence, 2.5)
    bad(r"groups: expected 6 values", shared_std_advantage, scores, torch.zeros(5, dtype=torch.long))
    bad(r"groups: must be non-negative integer", shared_std_advantage, scores, -torch.ones(6, dtype=torch.long))
    bad(r"scores: expected a floating-point", grpo_advantage, scores.long())
    bad(r"eps: must be a positive", shared_std_advantage, scores, torch.zeros(6, dtype=torch.long), eps=0.0)


def test_perceptual_quantiles_are_configurable_for_figure_4():
    entropy = torch.arange(100, dtype=torch.float64)
    assert torch.bincount(perceptual_groups(entropy, (0.1, 0.9))).tolist() == [10, 80, 10]
    assert torch.bincount(perceptual_groups(entropy, (0.5, 0.5))).tolist() == [50, 0, 50]
    bad(r"perceptual_quantiles", perceptual_groups, entropy, (0.8, 0.2))
    scores, e, c = random_batch(2)
    assert not torch.equal(
        durian_advantage(scores, e, c, (0.0, 1.0, 0.0)),
        durian_advantage(scores, e, c, (0.0, 1.0, 0.0), perceptual_quantiles=(0.1, 0.9)),
    )


def test_ablation_weights_drop_one_term_and_rescale():
    assert ablation_weights((0.1, 0.2, 0.7), "perceptual") == pytest.approx((1 / 3, 2 / 3, 0.0))
    assert ablation_weights((0.1, 0.2, 0.7), "reasoning") == pytest.approx((0.125, 0.0, 0.875))
    bad(r"keep", ablation_weights, (0.1, 0.2, 0.7), "both")
    bad(r"leave nothing", ablation_weights, (0.0, 0.0, 1.0), "perceptual")

import math

import pytest
import spec_reference as ref
import torch

from durian.difficulty import sequence_confidence, visual_entropies, visual_entropy


def features(patches, dims, seed=0, rank=None):
    g = torch.Generator().manual_seed(seed)
    if rank is None:
        return torch.randn(patches, dims, generator=g)
    return torch.randn(patches, rank, generator=g) @ torch.randn(rank, dims, generator=g)


@pytest.mark.parametrize("patches,dims", [(16, 64), (64, 16), (40, 40), (2, 9), (300, 32)])
def test_both_routes_agree_with_each_other_and_with_the_spec(patches, dims):
    f = features(patches, dims, seed=patches + dims)
    gram = visual_entropy(f, route="gram")
    cov = visual_entropy(f, route="covariance")
    assert abs(gram - cov) < 1e-6
    assert abs(visual_entropy(f) - ref.visual_entropy(f.numpy())) < 1e-6


def test_entropy_measures_the_spread_of_the_spectrum():
    assert visual_entropy(features(50, 8, rank=1)) == pytest.approx(0.0, abs=1e-6)
    # an orthogonal design with equal energy per direction has entropy log(rank)
    q, _ = torch.linalg.qr(torch.randn(16, 16, generator=torch.Generator().manual_seed(1)))
    balanced = torch.cat([q[:8], -q[:8]])  # 16 patches of 16 dims: +-8 orthonormal directions, mean 0
    assert visual_entropy(balanced) == pytest.approx(math.log(8), abs=1e-6)
    low, high = visual_entropy(features(64, 32, rank=3)), visual_entropy(features(64, 32))
    assert 0 < low < high <= math.log(32) + 1e-9


def test_degenerate_images_have_zero_entropy():
    assert visual_entropy(torch.ones(10, 4)) == 0.0
    assert visual_entropy(torch.randn(1, 4)) == 0.0


def test_entropy_is_scale_and_precision_invariant():
    f = features(30, 12, seed=4)
    assert visual_entropy(f * 1000) == pytest.approx(visual_entropy(f), abs=1e-6)
    assert visual_entropy(f.to(torch.bfloat16)) == pytest.approx(visual_entropy(f.to(torch.bfloat16).float()), abs=1e-9)


def test_batched_entropies_equal_one_by_one_for_mixed_patch_counts():
    images = [features(p, 24, seed=i) for i, p in enumerate([7, 30, 7, 50, 30, 1])]
    batched = visual_entropies(images)
    assert batched.dtype == torch.float64
    single = torch.tensor([visual_entropy(f) for f in images], dtype=torch.float64)
    torch.testing.assert_close(batched, single, rtol=0, atol=1e-9)


def test_entropy_rejects_bad_features():
    with pytest.raises(ValueError, match="image 1 must be a non-empty"):
        visual_entropies([torch.randn(3, 4), torch.randn(0, 4)])
    broken = torch.randn(5, 4)
    broken[2, 1] = float("nan")
    with pytest.raises(ValueError, match="non-finite value .* image 0"):
        visual_entropy(broken)
    with pytest.raises(ValueError, match="route"):
        visual_entropy(torch.randn(3, 3), route="svd")


def logprob_batch(rows=12, length=9, seed=0):
    g = torch.Generator().manual_seed(seed)
    logprobs = -torch.rand(rows, length, generator=g) * 4
    lengths = torch.randint(1, length + 1, (rows,), generator=g)
    mask = (torch.arange(length) < lengths[:, None]).long()
    return logprobs, mask


@pytest.mark.parametrize("reduce", ["mean", "sum"])
@pytest.mark.parametrize("group_size", [1, 3, 4])
def test_sequence_confidence_matches_the_spec(reduce, group_size):
    logprobs, mask = logprob_batch()
    got = sequence_confidence(logprobs, mask, group_size, reduce)
    want = ref.sequence_confidence(logprobs.tolist(), mask.tolist(), group_size, reduce)
    torch.testing.assert_close(got, torch.tensor(want, dtype=got.dtype), rtol=1e-5, atol=1e-5)


def test_sequence_confidence_ignores_non_finite_padding_and_rejects_it_under_the_mask():
    logprobs, mask = logprob_batch()
    padded = logprobs.masked_fill(mask == 0, float("-inf"))
    torch.testing.assert_close(sequence_confidence(padded, mask, 4), sequence_confidence(logprobs, mask, 4))
    row = int((mask.sum(1) > 1).nonzero()[2, 0])
    logprobs[row, 0] = float("nan")
    with pytest.raises(ValueError, match=f"token_logprobs: non-finite .* index {row}"):
        sequence_confidence(logprobs, mask, 4)


def test_sequence_confidence_rejects_bad_shapes():
    logprobs, mask = logprob_batch()
    with pytest.raises(ValueError, match="group_size: 12 rows do not split into groups of 5"):
        sequence_confidence(logprobs, mask, 5)
    with pytest.raises(ValueError, match="mask: expected shape"):
        sequence_confidence(logprobs, mask[:, :3], 4)
    with pytest.raises(ValueError, match="reduce"):
        sequence_confidence(logprobs, mask, 4, reduce="max")
    mask[5] = 0
    with pytest.raises(ValueError, match="row 5 has no tokens"):
        sequence_confidence(logprobs, mask, 4)

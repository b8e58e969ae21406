"""Appendix B's numpy grouping is the method's (docs/method.md §2 and §3): reports recompute
``durian.advantage.perceptual_groups`` / ``reasoning_groups`` without torch, and this test ties
the copies to the originals on random and tie-heavy inputs. (This test imports torch; reports
itself never does: see test_tables.py::test_reports_import_no_training_or_eval_stack.)"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from durian.advantage import perceptual_groups as method_perceptual_groups
from durian.advantage import reasoning_groups as method_reasoning_groups
from reports.tables.appendix import confidence_groups, perceptual_groups


def inputs(seed: int) -> dict[str, np.ndarray]:
    """Values of one batch / benchmark: continuous, heavily tied, all equal, a single value, float32-rounded."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 80))
    return {
        "normal": rng.normal(size=n),
        "ties": rng.integers(0, 4, size=n).astype(np.float64) / 4,
        "equal": np.full(n, 0.3),
        "one": rng.normal(size=1),
        "float32": rng.gamma(2.0, 0.2, size=n).astype(np.float32).astype(np.float64),
    }


@pytest.mark.parametrize("seed", range(25))
def test_perceptual_groups_match_the_method(seed):
    for kind, values in inputs(seed).items():
        for quantiles in ((0.25, 0.75), (0.1, 0.9), (0.5, 0.5)):
            ours = perceptual_groups(values, quantiles)
            method = method_perceptual_groups(torch.from_numpy(values), quantiles).numpy()
            np.testing.assert_array_equal(ours, method, err_msg=f"{kind}, quantiles {quantiles}")


@pytest.mark.parametrize("seed", range(25))
def test_confidence_groups_match_the_method(seed):
    for kind, values in inputs(seed).items():
        for num_groups in (1, 2, 3, 10, 12):
            ours = confidence_groups(-values, num_groups)  # confidence: a mean log-prob, <= 0
            method = method_reasoning_groups(torch.from_numpy(-values), num_groups).numpy()
            np.testing.assert_array_equal(ours, method, err_msg=f"{kind}, {num_groups} groups")

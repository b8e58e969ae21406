"""durian.world.logprobs: the chunked log-probs equal verl's row loop (values and gradients), keep
verl's function for bf16, and install on the CPU platform only."""

import pytest
import torch
import verl  # noqa: F401  (the plugins run, as in every verl process)
from verl.utils import torch_functional

from durian.world import logprobs


def _verl(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return logprobs.original()(logits, labels)


@pytest.mark.parametrize("shape", [(2300, 402), (3, 70, 402), (17, 5)])
@pytest.mark.parametrize("chunk_elements", [1 << 24, 4000, 7])  # one chunk; many with a short last one; one row each
def test_values_and_gradients_equal_verls_row_loop(shape, chunk_elements, monkeypatch):
    monkeypatch.setattr(logprobs, "CHUNK_ELEMENTS", chunk_elements)
    generator = torch.Generator().manual_seed(sum(shape))
    base = torch.randn(*shape, generator=generator) * 4
    labels = torch.randint(0, shape[-1], shape[:-1], generator=generator)
    weights = torch.randn(*shape[:-1], generator=generator)

    ours_in, theirs_in = base.clone().requires_grad_(), base.clone().requires_grad_()
    ours, theirs = logprobs.logprobs_from_logits_chunked(ours_in, labels), _verl(theirs_in, labels)
    (ours * weights).sum().backward()
    (theirs * weights).sum().backward()

    assert ours.shape == theirs.shape == labels.shape
    torch.testing.assert_close(ours, theirs, rtol=0, atol=2e-6)
    torch.testing.assert_close(ours_in.grad, theirs_in.grad, rtol=0, atol=2e-6)
    reference = torch.log_softmax(base.double(), dim=-1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    torch.testing.assert_close(ours.double(), reference, rtol=0, atol=2e-5)


def test_bf16_keeps_verls_own_function():
    generator = torch.Generator().manual_seed(0)
    logits = (torch.randn(40, 402, generator=generator) * 4).bfloat16()
    labels = torch.randint(0, 402, (40,), generator=generator)
    assert torch.equal(logprobs.logprobs_from_logits_chunked(logits, labels), _verl(logits, labels))


def test_install_swaps_verls_function_on_the_cpu_platform_only(monkeypatch):
    monkeypatch.setattr(torch_functional, "logprobs_from_logits_v2", logprobs.original())
    monkeypatch.setattr(logprobs, "_original", None)
    monkeypatch.delenv("VERL_PLATFORM", raising=False)
    logprobs.install()
    assert torch_functional.logprobs_from_logits_v2 is logprobs.original()

    monkeypatch.setenv("VERL_PLATFORM", "cpu")
    logprobs.install()
    logprobs.install()  # idempotent: verl's function is still the one kept
    assert torch_functional.logprobs_from_logits_v2 is logprobs.logprobs_from_logits_chunked
    assert logprobs.original() is not logprobs.logprobs_from_logits_chunked

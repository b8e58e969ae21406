"""verl's token log-probabilities without its row-by-row loop, on the CPU platform only.

Without flash-attn (every CPU run) verl's ``logprobs_from_logits`` falls back to
``logprobs_from_logits_v2``, which computes ``logsumexp`` one row of the logits at a time to bound
memory. verl's FSDP engine hands it the logits of every token of a micro-batch as one
(tokens, vocab) matrix, so one pass over the study batch (4 micro-batches of about 5,700 tokens)
is some 23,000 calls forward and as many autograd nodes backward: py-spy put the loop at a fifth
of the trainer worker's samples (README "Time, measured"). ``install()`` swaps in the same
formula, ``label logit - logsumexp(row)``, over chunks of rows whose size still bounds the memory
(``CHUNK_ELEMENTS`` logits at a time).
bf16 and other dtypes keep verl's own function (it switches to ``log_softmax`` for them).

Installed only with ``VERL_PLATFORM=cpu`` (a GPU run with flash-attn never reaches this function).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from durian.world import cpu_platform

CHUNK_ELEMENTS = 1 << 24  # logits per logsumexp call: 64 MiB in fp32

_original: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None


def original() -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """verl's own ``logprobs_from_logits_v2``, whether or not :func:`install` has run."""
    from verl.utils import torch_functional

    return _original if _original is not None else torch_functional.logprobs_from_logits_v2


def logprobs_from_logits_chunked(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    if logits.dtype not in (torch.float32, torch.float64):
        return original()(logits, labels)
    picked = torch.gather(logits, dim=-1, index=labels.unsqueeze(-1)).squeeze(-1)
    rows = logits.reshape(-1, logits.shape[-1])
    per_chunk = max(1, CHUNK_ELEMENTS // logits.shape[-1])
    lse = torch.cat([torch.logsumexp(chunk, dim=-1) for chunk in rows.split(per_chunk)])
    return picked - lse.view(picked.shape)


def install() -> None:
    """Idempotent; does nothing unless the CPU platform is selected."""
    global _original
    if not cpu_platform.selected():
        return
    from verl.utils import torch_functional

    if torch_functional.logprobs_from_logits_v2 is not logprobs_from_logits_chunked:
        _original = torch_functional.logprobs_from_logits_v2
        torch_functional.logprobs_from_logits_v2 = logprobs_from_logits_chunked

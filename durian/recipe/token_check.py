"""A faster input to transformers' image-token check, installed in every verl process.

After tokenizing, a transformers processor checks that each row of ``input_ids`` holds as many
image (and video) placeholder tokens as its text (``ProcessorMixin._check_special_mm_tokens``),
counting them with ``list(ids).count(token_id)``. verl's agent loop asks for tensors, so each row
is a tensor and the count walks it element by element in Python. At the study batch that check was
about a quarter of the agent loop worker's CPU, and the agent loop is what a step's generation
waits on (README "Time, measured"). ``install()`` hands transformers' own check the rows as
lists: the same counts, the same error, in C.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_original: Callable[..., None] | None = None


def original() -> Callable[..., None]:
    """transformers' own check, whether or not :func:`install` has run."""
    from transformers.processing_utils import ProcessorMixin

    return _original if _original is not None else ProcessorMixin._check_special_mm_tokens


def check_special_mm_tokens(self, text: list[str], text_inputs: Any, modalities: list[str]) -> None:
    ids = text_inputs["input_ids"]
    if hasattr(ids, "tolist"):  # a tensor or an array: rows as lists, which list.count walks in C
        text_inputs = {**text_inputs, "input_ids": ids.tolist()}
    original()(self, text, text_inputs, modalities)


def install() -> None:
    """Idempotent."""
    global _original
    from transformers.processing_utils import ProcessorMixin

    if ProcessorMixin._check_special_mm_tokens is not check_special_mm_tokens:
        _original = ProcessorMixin._check_special_mm_tokens
        ProcessorMixin._check_special_mm_tokens = check_special_mm_tokens

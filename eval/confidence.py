"""Confidence of a response: the mean log-prob of its tokens given the prompt the model saw, from a
forward pass of the checkpoint (the reasoning-difficulty signal of the paper, measured at evaluation).

:func:`response_confidences` scores many responses in batches: each row holds one prompt and its
response, right-padded, so a row's real tokens see only its own earlier tokens (causal attention and
the padding mask) and its log-probs are the ones a forward pass of that row alone gives, to float
rounding. :func:`response_confidence` is one response, a batch of one.

The pass places the image tokens as generation did: transformers (>= 5.3) computes Qwen2.5-VL's 3-D
(mRoPE) positions only when ``mm_token_type_ids`` is passed, which the processor returns and
lmms-eval's ``generate(**inputs)`` forwards; without it every token gets a 1-D text position.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch

from durian.prompt import SYSTEM_PROMPT  # lmms-eval qwen2_5_vl's default, Qwen's own


class Scored(NamedTuple):
    """One response to score: the question's images, the prompt text lmms-eval sent, the response."""

    images: list[Any]
    context: str
    response: str


def _image_url(image) -> str:
    from lmms_eval.models.model_utils.media_encoder import encode_image_to_data_url

    # the same encoding lmms-eval's qwen2_5_vl sends to the model
    return encode_image_to_data_url(image, image_format="JPEG", mime_type="image/jpeg", convert_rgb=True, quality=85)


def _encode(processor, item: Scored, *, min_pixels: int, max_pixels: int) -> tuple[dict, torch.Tensor]:
    """The prompt's processor outputs (the model's view of its images) and the response's token ids."""
    from qwen_vl_utils import process_vision_info

    content = [{"type": "image", "image": _image_url(im), "min_pixels": min_pixels, "max_pixels": max_pixels}
               for im in item.images]
    messages = [{"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": content + [{"type": "text", "text": item.context}]}]
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    image_inputs, _ = process_vision_info(messages)
    prompt = processor(text=[text], images=image_inputs, return_tensors="pt")
    answer = processor.tokenizer(item.response, add_special_tokens=False, return_tensors="pt").input_ids[0]
    return prompt, answer


@torch.no_grad()
def _score_batch(model, pad_id: int, encoded: list[tuple[dict, torch.Tensor]]) -> list[float]:
    device = next(model.parameters()).device
    rows = [torch.cat([prompt["input_ids"][0], answer]) for prompt, answer in encoded]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)], mask[i, : len(row)] = row, 1
    inputs: dict[str, torch.Tensor] = {"input_ids": ids.to(device), "attention_mask": mask.to(device)}
    if all("mm_token_type_ids" in prompt for prompt, _ in encoded):  # the response's tokens are text (0)
        types = torch.zeros_like(ids)
        for i, (prompt, _) in enumerate(encoded):
            types[i, : prompt["input_ids"].shape[1]] = prompt["mm_token_type_ids"][0]
        inputs["mm_token_type_ids"] = types.to(device)
    with_images = [prompt for prompt, _ in encoded if "pixel_values" in prompt]
    if with_images:
        inputs["pixel_values"] = torch.cat([p["pixel_values"] for p in with_images]).to(device, model.dtype)
        inputs["image_grid_thw"] = torch.cat([p["image_grid_thw"] for p in with_images]).to(device)
    logits = model(**inputs).logits
    means = []
    for i, (prompt, answer) in enumerate(encoded):
        start = prompt["input_ids"].shape[1] - 1  # the logits that predict the response's tokens
        row = torch.log_softmax(logits[i, start : start + len(answer)].float(), dim=-1)
        means.append(float(row.gather(1, answer.to(device)[:, None]).mean()))
    return means


def response_confidences(model, processor, items: Sequence[Scored], *, min_pixels: int, max_pixels: int,
                         batch_size: int = 16) -> list[tuple[float | None, int]]:
    """(mean log-prob of the response's tokens, token count) per item, in order; an empty response
    has no confidence: (None, 0)."""
    if batch_size < 1:
        raise ValueError(f"batch_size: must be at least 1, got {batch_size}")
    pad_id = processor.tokenizer.pad_token_id
    pad_id = processor.tokenizer.eos_token_id if pad_id is None else pad_id
    results: list[tuple[float | None, int]] = [(None, 0)] * len(items)
    pending: list[tuple[int, tuple[dict, torch.Tensor]]] = []  # encoded a batch at a time: pixels are large
    for i, item in enumerate(items):
        encoded = _encode(processor, item, min_pixels=min_pixels, max_pixels=max_pixels)
        if len(encoded[1]):
            pending.append((i, encoded))
        if pending and (len(pending) == batch_size or i == len(items) - 1):
            for (j, (_, answer)), mean in zip(pending, _score_batch(model, pad_id, [e for _, e in pending]), strict=True):
                results[j] = (mean, len(answer))
            pending = []
    return results


def response_confidence(model, processor, images, context: str, response: str, *, min_pixels: int,
                        max_pixels: int) -> tuple[float | None, int]:
    """(mean log-prob of the response's tokens given the prompt the model saw, token count)."""
    return response_confidences(model, processor, [Scored(list(images), context, response)],
                                min_pixels=min_pixels, max_pixels=max_pixels)[0]

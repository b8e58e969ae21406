"""The thinking prompt (paper appendix D), shared by training and evaluation.

Qwen2.5-VL's own system prompt is kept (its chat template adds it); the instruction goes
before the question (docs/method.md §7, §10: ``prepend``) or after it (EasyR1's ``append``).
"""

from __future__ import annotations

from typing import Literal

THINKING_INSTRUCTION = (
    "You FIRST think about the reasoning process as an internal monologue and then provide the final answer. "
    "The reasoning process MUST BE enclosed within <think> </think> tags. "
    "The final answer MUST BE put in \\boxed{}."
)
# HallusionBench's answer format (NoisyRollout's protocol); the smoke task's yes/no questions use it too.
YES_NO_INSTRUCTION = "Your final answer can only be \\boxed{yes} or \\boxed{no}."
IMAGE_PLACEHOLDER = "<image>"  # verl's RLHFDataset turns it into an image content item

Position = Literal["prepend", "append"]


def thinking_prompt(question: str, position: Position = "prepend") -> str:
    """The user's text: the question with the thinking instruction before or after it."""
    question = question.strip()
    if not question:
        raise ValueError("question: is empty")
    if position == "prepend":
        return f"{THINKING_INSTRUCTION}\n\n{question}"
    if position == "append":
        return f"{question}\n\n{THINKING_INSTRUCTION}"
    raise ValueError(f"position: must be 'prepend' or 'append', got {position!r}")


def chat_messages(question: str, position: Position = "prepend", num_images: int = 1) -> list[dict[str, str]]:
    """verl's ``prompt`` column: one user turn, images first unless the question places them."""
    text = thinking_prompt(question, position)
    placed = text.count(IMAGE_PLACEHOLDER)
    if placed not in (0, num_images):
        raise ValueError(f"question: holds {placed} {IMAGE_PLACEHOLDER} placeholders for {num_images} images")
    if placed == 0:
        text = IMAGE_PLACEHOLDER * num_images + text
    return [{"role": "user", "content": text}]

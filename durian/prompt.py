"""The thinking prompt (paper appendix D) and the one user turn that training and evaluation share.

Appendix D: Qwen2.5-VL's own system prompt is kept (its chat template adds it) and the thinking
instruction is prepended to the user message, in the same format for training and evaluation.
The paper does not say where the image goes; :func:`user_turn` puts it first, then the
instruction, the separator and the question: NoisyRollout's evaluation of the 32B model
(``eval/utils/processing.py``: system kept, user = [image] + instruction + question) and the
Geometry3K rows (each problem starts with its ``<image>``) order it so. The separator is unstated
too (NoisyRollout: one space); ours is a blank line, :data:`SEPARATOR`. ``append`` puts the
instruction after the question (EasyR1's ``math.jinja``), for ablations.
"""

from __future__ import annotations

from typing import Literal

# Qwen2.5-VL's own default system prompt: its chat template adds it, the tiny world's template too,
# and lmms-eval's qwen2_5_vl model sends it (appendix D keeps it).
SYSTEM_PROMPT = "You are a helpful assistant."
THINKING_INSTRUCTION = (
    "You FIRST think about the reasoning process as an internal monologue and then provide the final answer. "
    "The reasoning process MUST BE enclosed within <think> </think> tags. "
    "The final answer MUST BE put in \\boxed{}."
)
# HallusionBench's answer format (NoisyRollout's protocol); the smoke task's yes/no questions use it too.
YES_NO_INSTRUCTION = "Your final answer can only be \\boxed{yes} or \\boxed{no}."
IMAGE_PLACEHOLDER = "<image>"  # verl's RLHFDataset turns it into an image content item
SEPARATOR = "\n\n"  # between the instruction and the question

Position = Literal["prepend", "append"]


def user_turn(question: str, num_images: int = 1, position: Position = "prepend", separator: str = SEPARATOR) -> str:
    """The user turn's text, ``<image>`` placeholders included: the images first, then the thinking
    instruction, ``separator`` and the question (``prepend``; ``append``: question, then instruction).

    Placeholders at the start of the question (Geometry3K's ``"<image>Find x."``) are the images'
    own and move to the front; a question that places its images inside its text keeps them there.
    ``num_images=0`` gives the text alone (what a backend that places the images itself is sent).
    """
    question = question.strip()
    leading = 0
    while question.startswith(IMAGE_PLACEHOLDER):
        question, leading = question[len(IMAGE_PLACEHOLDER) :].lstrip(), leading + 1
    if not question:
        raise ValueError("question: is empty")
    placed = leading + question.count(IMAGE_PLACEHOLDER)
    if num_images and placed not in (0, num_images):
        raise ValueError(f"question: holds {placed} {IMAGE_PLACEHOLDER} placeholders for {num_images} images")
    if not num_images and question.count(IMAGE_PLACEHOLDER):
        raise ValueError(f"question: holds {IMAGE_PLACEHOLDER} placeholders but no images are given")
    if position == "prepend":
        text = f"{THINKING_INSTRUCTION}{separator}{question}"
    elif position == "append":
        text = f"{question}{separator}{THINKING_INSTRUCTION}"
    else:
        raise ValueError(f"position: must be 'prepend' or 'append', got {position!r}")
    return IMAGE_PLACEHOLDER * (num_images - question.count(IMAGE_PLACEHOLDER) if num_images else 0) + text


def thinking_prompt(question: str, position: Position = "prepend") -> str:
    """The user turn's text without images (:func:`user_turn` with ``num_images=0``)."""
    return user_turn(question, num_images=0, position=position)


def chat_messages(question: str, position: Position = "prepend", num_images: int = 1) -> list[dict[str, str]]:
    """verl's ``prompt`` column: the one user turn of :func:`user_turn`."""
    return [{"role": "user", "content": user_turn(question, num_images, position)}]

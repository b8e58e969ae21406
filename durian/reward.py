"""The paper's reward (eq. 22-24): 0.1 * format + 0.9 * accuracy, graded by mathruler.

``compute_score`` has verl's custom-reward signature, so verl loads this file through
``custom_reward_function.path`` and evaluation grades with the very same function.
"""

from __future__ import annotations

import re
from typing import Any

from mathruler.grader import extract_boxed_content, grade_answer

FORMAT_WEIGHT = 0.1
ACCURACY_WEIGHT = 0.9
_FORMAT = re.compile(r"<think>.*</think>.*\\boxed\{.*\}.*", re.DOTALL)


def format_reward(response: str) -> float:
    """1 when the whole response (outer whitespace aside) reads <think>...</think> ... \\boxed{...} ..."""
    return 1.0 if _FORMAT.fullmatch(response.strip()) else 0.0


def last_boxed(response: str) -> str | None:
    """Content of the last complete \\boxed{...} (nested braces allowed), or None."""
    content = extract_boxed_content(response)
    # mathruler answers the string "None" when there is no complete box.
    if content == "None" and "\\boxed{None}" not in response.replace(" ", ""):
        return None
    return content


def accuracy_reward(response: str, ground_truth: str) -> float:
    answer = last_boxed(response)
    if answer is None:
        return 0.0
    return 1.0 if grade_answer(answer, str(ground_truth).strip()) else 0.0


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: str,
    extra_info: dict[str, Any] | None = None,
) -> dict[str, float]:
    fmt = format_reward(solution_str)
    acc = accuracy_reward(solution_str, ground_truth)
    return {"score": FORMAT_WEIGHT * fmt + ACCURACY_WEIGHT * acc, "format": fmt, "accuracy": acc}

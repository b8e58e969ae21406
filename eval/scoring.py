"""Rule scoring (mode ``rules``): answer extraction and grading, offline.

Extraction (:func:`extract_answer`), first hit wins:
1. ``boxed``: the last complete ``\\boxed{}`` after the last ``</think>`` (the whole response when
   there is no ``</think>``);
2. ``boxed_anywhere``: the last ``\\boxed{}`` anywhere (e.g. one left inside the thinking);
3. ``answer_is``: a trailing "answer is X" / "answer: X" after the thinking;
4. ``letter`` (choice questions), ``yes_no`` (yes/no questions), ``last_number`` (others, and
   choice questions naming no letter): the last standalone option letter, yes/no word or number
   after the thinking;
otherwise ``none`` (scored wrong).

Grading (:func:`grade`): choice letters are mapped to options and back (a letter must be the gold
letter; an option's text must equal the gold option), numbers and expressions are compared with
``mathruler`` and then ``math_verify``, yes/no answers by their first word.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Sequence
from typing import Literal

from mathruler.grader import grade_answer

from durian.reward import last_boxed

Kind = Literal["math", "choice", "yesno"]
LETTERS = "ABCDEFGH"
THINK_END = "</think>"


@dataclasses.dataclass(frozen=True)
class Target:
    """What a response is graded against. For ``choice``, ``answer`` is the gold letter."""

    answer: str
    kind: Kind = "math"
    options: tuple[str, ...] = ()
    precision: int | None = None  # MathVista float answers: compare after rounding

    def __post_init__(self) -> None:
        if self.kind == "choice":
            # no options: they are drawn in the image (MathVerse Vision Only), the letter alone is graded
            if self.answer not in (LETTERS[: len(self.options)] if self.options else LETTERS):
                raise ValueError(f"choice answer {self.answer!r} is not a letter of {len(self.options)} options")
        elif self.kind == "yesno" and self.answer not in ("yes", "no"):
            raise ValueError(f"yes/no answer must be 'yes' or 'no', got {self.answer!r}")

    @property
    def letters(self) -> str:
        """The option letters a response may name: one per option; without options, A-E (or up to
        the gold letter)."""
        if self.kind != "choice":
            return ""
        if self.options:
            return LETTERS[: len(self.options)]
        return LETTERS[: max(5, LETTERS.index(self.answer) + 1)]

    @property
    def gold_text(self) -> str:
        if self.kind == "choice" and self.options:
            return self.options[LETTERS.index(self.answer)]
        return self.answer


def choice_target(answer: str, options: Sequence[str] = ()) -> Target:
    """A multiple-choice target: ``answer`` a letter ("B", "(B)", "B."), graded against ``options``
    when the gold letter is among them, else as a letter alone (options unparseable or only in the image)."""
    letter = _choice_letter(answer)
    if letter is None:
        raise ValueError(f"choice answer {answer!r} is not an option letter")
    options = tuple(options)
    return Target(letter, "choice", options if letter in LETTERS[: len(options)] else ())


def _choice_letter(answer: str) -> str | None:
    match = re.fullmatch(r"\s*\(?([A-H])\)?\s*[.:)]?\s*", str(answer))
    return match.group(1) if match else None


@dataclasses.dataclass(frozen=True)
class Verdict:
    extracted: str | None
    method: str
    correct: bool


def answer_region(response: str) -> str:
    return response.rsplit(THINK_END, 1)[-1] if THINK_END in response else response


_ANSWER_IS = re.compile(r"answer\s*(?:is|:)\s*:?\s*([^\n]+)", re.IGNORECASE)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+)?")
_YES_NO = re.compile(r"\b(yes|no)\b", re.IGNORECASE)


def extract_answer(response: str, kind: Kind = "math", letters: str = "") -> tuple[str | None, str]:
    """(answer, method) by the documented order; (None, "none") when nothing is found."""
    tail = answer_region(response)
    boxed = last_boxed(tail)
    if boxed is not None:
        return boxed.strip(), "boxed"
    boxed = last_boxed(response)
    if boxed is not None:
        return boxed.strip(), "boxed_anywhere"
    said = _ANSWER_IS.findall(tail)
    if said:
        text = said[-1].strip().rstrip(".").strip().strip("$").strip()
        if text:
            return text, "answer_is"
    if kind == "choice" and letters:
        found = re.findall(rf"\(([{letters}])\)|\b([{letters}])\b", tail)
        if found:
            return "".join(found[-1]), "letter"
    if kind == "yesno":
        found = _YES_NO.findall(tail)
        if found:
            return found[-1].lower(), "yes_no"
    else:
        found = _NUMBER.findall(tail)
        if found:
            return found[-1].replace(" ", ""), "last_number"
    return None, "none"


# ------------------------------------------------------------------------------------- grading
def _strip_latex(text: str) -> str:
    text = text.strip().strip("$").strip()
    text = re.sub(r"\\(?:text|mathrm|textbf|mathbf)\{([^{}]*)\}", r"\1", text)
    return text.strip()


def _normalize_math(text: str) -> str:
    text = _strip_latex(text)
    text = re.sub(r"√\{([^{}]*)\}", r"\\sqrt{\1}", text)
    text = re.sub(r"√(\d+|[a-zA-Z])", r"\\sqrt{\1}", text)
    text = text.replace("°", "").replace("^\\circ", "").replace("^{\\circ}", "").replace("π", "\\pi")
    return text.strip()


def _as_float(text: str) -> float | None:
    try:
        return float(text.replace(",", "").replace("%", "").strip())
    except ValueError:
        return None


def _math_verify_equal(pred: str, gold: str) -> bool:
    from math_verify import parse, verify

    # math_verify's timeouts use SIGALRM, which only works in the main thread; lmms-eval may
    # score documents in worker threads.
    timeout = 5 if threading.current_thread() is threading.main_thread() else None
    try:
        gold_parsed = parse(f"${gold}$", parsing_timeout=timeout)
        pred_parsed = parse(f"${pred}$", parsing_timeout=timeout)
        return bool(gold_parsed and pred_parsed and verify(gold_parsed, pred_parsed, timeout_seconds=timeout))
    except Exception:  # noqa: BLE001 - math_verify raises assorted errors on unparseable input
        return False


def math_equal(pred: str, gold: str, precision: int | None = None) -> bool:
    pred, gold = _normalize_math(pred), _normalize_math(gold)
    if not pred or not gold:
        return False
    if pred.lower() == gold.lower():
        return True
    pred_number, gold_number = _as_float(pred), _as_float(gold)
    if pred_number is not None and gold_number is not None:
        if precision is not None:
            return round(pred_number, precision) == round(gold_number, precision)
        return abs(pred_number - gold_number) <= 1e-6 * max(1.0, abs(gold_number))
    if grade_answer(pred, gold):
        return True
    if gold.startswith("[") and gold.endswith("]") and grade_answer(f"[{pred.strip('[]()')}]", gold):
        return True
    return _math_verify_equal(pred, gold)


_LETTER_ONLY = re.compile(r"^(?:option|choice)?\s*\(?([A-H])\)?\s*[.:)]?$", re.IGNORECASE)
_LETTER_LEAD = re.compile(r"^(?:option|choice)?\s*\(?([A-H])\)?\s*[.:)]\s*(.+)$", re.IGNORECASE)
_LETTER_PAREN = re.compile(r"^\(([A-H])\)\s*(.+)$")


def as_letter(pred: str, letters: str) -> str | None:
    """The option letter a prediction names ("B", "(B)", "B.", "B: 8/11", "(B) 8/11"), or None."""
    text = _strip_latex(pred)
    for pattern in (_LETTER_ONLY, _LETTER_LEAD, _LETTER_PAREN):
        match = pattern.match(text)
        # A lone lowercase letter is more likely a variable than an option.
        if match and match.group(1).upper() in letters and (match.group(1).isupper() or pattern is not _LETTER_ONLY):
            return match.group(1).upper()
    return None


def yes_no(pred: str) -> str | None:
    words = re.findall(r"[a-z]+", _strip_latex(pred).lower())
    return words[0] if words and words[0] in ("yes", "no") else None


def grade(pred: str | None, target: Target) -> bool:
    if pred is None or not pred.strip():
        return False
    if target.kind == "yesno":
        return yes_no(pred) == target.answer
    if target.kind == "math":
        return math_equal(pred, target.answer, target.precision)
    letter = as_letter(pred, target.letters)
    if letter is not None:
        return letter == target.answer
    matching = [LETTERS[i] for i, option in enumerate(target.options) if math_equal(pred, option, target.precision)]
    return target.answer in matching


Extraction = Literal["lenient", "strict"]
EXTRACTIONS: tuple[str, ...] = ("lenient", "strict")


def score(response: str, target: Target, extraction: Extraction = "lenient") -> Verdict:
    """``lenient``: :func:`extract_answer`'s order, then :func:`grade`. ``strict`` (NoisyRollout's
    HallusionBench protocol): the last ``\\boxed{}`` anywhere in the response (empty boxes ignored),
    no fallback; a yes/no answer must be exactly "yes" or "no" (case aside)."""
    if extraction == "strict":
        boxed = last_boxed(response.replace("\\boxed{}", ""))
        if boxed is None:
            return Verdict(None, "none", False)
        if target.kind == "yesno":
            return Verdict(boxed.strip(), "boxed_only", boxed.strip().lower() == target.answer)
        return Verdict(boxed.strip(), "boxed_only", grade(boxed, target))
    if extraction != "lenient":
        raise ValueError(f"extraction: one of {', '.join(EXTRACTIONS)}, got {extraction!r}")
    extracted, method = extract_answer(response, target.kind, target.letters)
    return Verdict(extracted, method, grade(extracted, target))


# ------------------------------------------------------------------------------------ options
def parse_options(text: str) -> tuple[str, ...]:
    """Options written in a question or option string: "A:2\\nB:3", "(A) 2, (B) 3", "A. 2; B. 3"."""
    at = text.rfind("Choices")
    text = text[at + len("Choices") :].lstrip(":") if at >= 0 else text
    marks = list(re.finditer(r"(?:^|(?<=[\s;]))\(?([A-H])\)?\s*[:.)]\s*", text))
    options, kept, want = [], [], 0
    for mark in marks:
        if mark.group(1) == LETTERS[want]:
            kept.append(mark)
            want += 1
            if want == len(LETTERS):
                break
    for i, mark in enumerate(kept):
        end = kept[i + 1].start() if i + 1 < len(kept) else len(text)
        option = text[mark.end() : end].strip().rstrip(";,").strip()
        options.append(option[:-1].rstrip() if option.endswith(".") and len(option) > 1 else option)
    return tuple(options) if len(options) >= 2 else ()


def letter_of(answer: str, choices: Sequence[str]) -> str:
    """The letter of ``answer`` among ``choices`` (MathVista stores the option's text)."""
    try:
        return LETTERS[list(choices).index(answer)]
    except ValueError:
        raise ValueError(f"answer {answer!r} is not one of the choices {list(choices)}") from None

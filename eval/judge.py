"""Judge scoring (mode ``judge``): an OpenAI-compatible chat endpoint extracts and judges answers.

As NoisyRollout's evaluation (which used Gemini) does, three protocols; each benchmark's adapter
(``eval/tasks/durian_<benchmark>/utils.py``) names its own:
- ``match`` (MathVerse): the boxed answer after ``</think>`` when there is one, else the judge
  extracts it; then the judge decides whether it matches the standard answer (MathVerse's scoring
  prompt);
- ``extract`` (MathVista, MathVision): the judge extracts the answer (MathVista-style in-context
  examples), which is then graded by rules against the gold answer (letters for multiple choice);
- ``letter`` (WeMath): the judge extracts one option letter, compared with the gold letter.
HallusionBench and Geometry3K name none: they are always scored by rules (docs/method.md §9).

The API key is read from the environment variable named in the config at request time; it is
never stored, logged or written, and what the server sends back (a reply, an HTTP status text) has
it masked before use, so a server that echoes the key cannot leak it either. A request that still
fails after the retries (exponential backoff) raises :class:`JudgeError`: a judge failure never
scores as wrong.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import time
import urllib.error
import urllib.request
from typing import Literal

from eval import scoring
from eval.scoring import LETTERS, Target, Verdict

Protocol = Literal["match", "extract", "letter"]  # named by each benchmark's adapter


class JudgeError(RuntimeError):
    pass


MASK = "[key]"


def _masked(text: str, key: str | None) -> str:
    """``text`` from the server with the API key masked (a server may echo what it was sent)."""
    return text.replace(key, MASK) if key else text


@dataclasses.dataclass(frozen=True)
class JudgeConfig:
    base_url: str  # e.g. http://127.0.0.1:8000/v1 (a local vLLM server) or an API's /v1 URL
    model: str
    api_key_env: str | None = "OPENAI_API_KEY"  # None: send no key (a local server)
    retries: int = 4  # attempts after the first
    backoff_seconds: float = 2.0  # doubled after every failed attempt
    timeout_seconds: float = 120.0  # per request (eval.run --judge-timeout, config eval.judge_timeout)
    max_tokens: int = 256

    def __post_init__(self) -> None:
        if not self.timeout_seconds > 0:
            raise ValueError(f"judge timeout: must be positive seconds, got {self.timeout_seconds!r}")


EXTRACT_EXAMPLES = """\
Question: Which number is missing?
Model response: The number missing in the sequence is 14.
Extracted answer: 14

Question: What is the fraction of females facing the camera?
Model response: The fraction of females facing the camera is 0.6, so six out of ten are facing it.
Extracted answer: 0.6

Question: Between which two years does the line graph see its maximum peak?
Model response: The line graph peaks between 2007 and 2008.
Extracted answer: [2007, 2008]

Question: What fraction of the shape is blue?
Choices: (A) 3/11 (B) 8/11 (C) 6/11 (D) 3/5
Model response: The correct answer is (B) 8/11.
Extracted answer: B

Question: What is the value of y?
Model response: There is not enough information to solve for y.
Extracted answer: null
"""

EXTRACT_PROMPT = """\
Read the examples, then extract the final answer from the last model response. Output only the \
answer (a number, an expression, a list, or an option letter when the question has choices), \
or null when the response gives none.

{examples}
Question: {question}
Model response: {response}
Extracted answer:"""

MATCH_PROMPT = """\
Below are two answers to a math question. [Question] is the question, [Standard Answer] is its \
standard answer and [Model_answer] is the answer extracted from a model's output. Determine \
whether the two answers are consistent. For multiple-choice questions they are consistent only \
when the model answer names the same option; otherwise the same value expressed differently \
(for example 0.5m and 50cm) is consistent. Output 1 if they are consistent and 0 if not, with \
no explanation.

[Question]: {question}
[Standard Answer]: {answer}
[Model_answer]: {extracted}
Judgement:"""

WEMATH_PROMPT = """\
You are evaluating answers to math questions. Extract the final answer from the model's solution.

Question: {question}

Model's solution:
{response}

Output only the letter (A, B, C, D or E) of the chosen option, with no other text. If the final \
answer is not stated clearly, make your best determination from the reasoning."""


class Judge:
    def __init__(self, config: JudgeConfig):
        self.config = config
        self.failure: str | None = None  # once the judge has failed, fail at once (its other requests too)
        self.checked: str | None = None  # set by check()

    @property
    def model(self) -> str:
        return self.config.model

    def _key(self) -> str | None:
        name = self.config.api_key_env
        if name is None:
            return None
        key = os.environ.get(name)
        if not key:
            raise JudgeError(f"the judge's API key variable {name} is not set")
        return key

    def chat(self, prompt: str, check=None, max_tokens: int | None = None) -> str:
        """The reply to one user turn; ``check`` (reply -> bool) makes a malformed reply a failure."""
        if self.failure is not None:
            raise JudgeError(self.failure)
        cfg = self.config
        body = json.dumps(
            {
                "model": cfg.model,
                "messages": [{"role": "user", "content": prompt}],
                "temperature": 0,
                "max_tokens": max_tokens or cfg.max_tokens,
            }
        ).encode()
        headers = {"Content-Type": "application/json"}
        key = self._key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        url = cfg.base_url.rstrip("/") + "/chat/completions"
        problem = "no attempt"
        for attempt in range(cfg.retries + 1):
            if attempt:
                time.sleep(cfg.backoff_seconds * 2 ** (attempt - 1))
            try:
                request = urllib.request.Request(url, data=body, headers=headers, method="POST")
                with urllib.request.urlopen(request, timeout=cfg.timeout_seconds) as reply:
                    content = json.loads(reply.read())["choices"][0]["message"]["content"]
                if isinstance(content, str):
                    content = _masked(content, key)
                if not isinstance(content, str) or not content.strip():
                    problem = "an empty reply"
                elif check is not None and not check(content.strip()):
                    problem = f"a malformed reply {content.strip()[:80]!r}"
                else:
                    return content.strip()
            except urllib.error.HTTPError as error:  # the status text is the server's: it may echo the key
                problem = f"HTTP {error.code} {_masked(str(error.reason), key)}"
            except (urllib.error.URLError, TimeoutError, OSError) as error:
                problem = f"{type(error).__name__}: {_masked(str(getattr(error, 'reason', error)), key)}"
            except (ValueError, KeyError, IndexError, TypeError) as error:
                problem = f"an unreadable reply ({type(error).__name__})"
        self.failure = f"judge {cfg.model} at {url} failed after {cfg.retries + 1} attempts: {problem}"
        raise JudgeError(self.failure)

    def check(self) -> None:
        """Before any generation: the key variable is set and the endpoint answers one cheap request
        (one token); raises :class:`JudgeError` naming the variable or the failure."""
        self._key()
        cfg = self.config
        self.chat("Reply with the digit 1.", max_tokens=1)
        self.checked = f"{cfg.model} at {cfg.base_url}"

    def extract(self, question: str, response: str) -> str | None:
        reply = self.chat(EXTRACT_PROMPT.format(examples=EXTRACT_EXAMPLES, question=question, response=response))
        reply = re.sub(r"^extracted answer:\s*", "", reply, flags=re.IGNORECASE).strip()
        return None if reply.lower() in ("null", "none", "") else reply

    def matches(self, question: str, answer: str, extracted: str) -> bool:
        reply = self.chat(
            MATCH_PROMPT.format(question=question, answer=answer, extracted=extracted),
            check=lambda text: text[:1] in ("0", "1"),
        )
        return reply[:1] == "1"

    def score(self, benchmark: str, response: str, target: Target, question: str) -> Verdict:
        """One response scored by ``benchmark``'s protocol (its adapter's ``judge``)."""
        from eval.task import task

        protocol = task(benchmark).adapter.judge
        if protocol is None:
            raise ValueError(f"{benchmark} is scored by rules only")
        return self.verdict(protocol, response, target, question)

    def verdict(self, protocol: Protocol, response: str, target: Target, question: str) -> Verdict:
        methods = {"match": self.match_verdict, "extract": self.extract_verdict, "letter": self.letter_verdict}
        if protocol not in methods:
            raise ValueError(f"judge protocol: one of {sorted(methods)}, got {protocol!r}")
        return methods[protocol](response, target, question)

    def match_verdict(self, response: str, target: Target, question: str) -> Verdict:
        boxed = scoring.last_boxed(scoring.answer_region(response))
        extracted = boxed.strip() if boxed is not None else self.extract(question, response)
        method = "boxed+judge" if boxed is not None else "judge"
        if extracted is None:
            return Verdict(None, method, False)
        return Verdict(extracted, method, self.matches(question, target.answer, extracted))

    def extract_verdict(self, response: str, target: Target, question: str) -> Verdict:
        extracted = self.extract(question, response)
        return Verdict(extracted, "judge", scoring.grade(extracted, target))

    def letter_verdict(self, response: str, target: Target, question: str) -> Verdict:
        letters = LETTERS[: max(len(target.options), 5)]
        reply = self.chat(WEMATH_PROMPT.format(question=question, response=response))
        letter = reply.strip().upper()
        extracted = letter if re.fullmatch(f"[{letters}]", letter) else None
        return Verdict(extracted or reply, "judge", extracted == target.answer)

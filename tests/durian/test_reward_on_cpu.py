import re

import pytest

from durian import reward
from durian.reward import compute_score, last_boxed

T = "<think>reasoning</think> "

# (response, ground truth, format, accuracy): what the paper's reward (eq. 22-24) must say.
CASES = [
    (T + r"\boxed{3}", "3", 1, 1),
    (T + r"\boxed{ 3 }", "3", 1, 1),
    (T + r"\boxed{3.0}", "3", 1, 1),
    (T + r"\boxed{03}", "3", 1, 1),
    (T + r"\boxed{-3}", "-3", 1, 1),
    (T + r"\boxed{- 3}", "-3", 1, 1),
    (T + r"\boxed{3}", "-3", 1, 0),
    (T + r"\boxed{3}", " 3 ", 1, 1),
    (T + r"\boxed{1,000}", "1000", 1, 1),
    (T + r"\boxed{1000}", "1,000", 1, 1),
    # fractions: LaTeX forms agree, unreduced ones do not (mathruler's rule)
    (T + r"\boxed{\frac{1}{2}}", r"\frac{1}{2}", 1, 1),
    (T + r"\boxed{\dfrac{1}{2}}", r"\frac{1}{2}", 1, 1),
    (T + r"\boxed{\frac12}", r"\frac{1}{2}", 1, 1),
    (T + r"\boxed{1/2}", r"\frac{1}{2}", 1, 1),
    (T + r"\boxed{0.5}", r"\frac{1}{2}", 1, 1),
    (T + r"\boxed{2/4}", r"\frac{1}{2}", 1, 0),
    (T + r"\boxed{\frac{2}{4}}", r"\frac{1}{2}", 1, 0),
    (T + r"\boxed{\frac{\sqrt{3}}{2}}", r"\frac{\sqrt{3}}{2}", 1, 1),
    # radicals and constants: exact forms agree, decimals do not
    (T + r"\boxed{2\sqrt{3}}", r"2\sqrt{3}", 1, 1),
    (T + r"\boxed{\sqrt{12}}", r"2\sqrt{3}", 1, 1),
    (T + r"\boxed{3.46}", r"2\sqrt{3}", 1, 0),
    (T + r"\boxed{\pi}", r"\pi", 1, 1),
    (T + r"\boxed{2\pi}", r"2\pi", 1, 1),
    (T + r"\boxed{6.28}", r"2\pi", 1, 0),
    # units, degrees, percent, currency
    (T + r"\boxed{5 cm}", "5", 1, 1),
    (T + r"\boxed{5\text{ cm}}", "5", 1, 1),
    (T + r"\boxed{60^\circ}", "60", 1, 1),
    (T + r"\boxed{60^{\circ}}", "60", 1, 1),
    (T + r"\boxed{60 degrees}", "60", 1, 1),
    (T + r"\boxed{12\%}", "12", 1, 1),
    (T + r"\boxed{\$12}", "12", 1, 1),
    (T + r"\boxed{x=3}", "3", 1, 1),
    # choice letters and yes/no
    (T + r"\boxed{B}", "B", 1, 1),
    (T + r"\boxed{b}", "B", 1, 1),
    (T + r"\boxed{(B)}", "B", 1, 1),
    (T + r"\boxed{\text{B}}", "B", 1, 1),
    (T + r"\boxed{C}", "B", 1, 0),
    (T + r"\boxed{B. 12}", "B", 1, 0),
    (T + r"\boxed{yes}", "Yes", 1, 1),
    (T + r"\boxed{No}", "yes", 1, 0),
    # tuples keep their order
    (T + r"\boxed{(1,2)}", "(1,2)", 1, 1),
    (T + r"\boxed{(2,1)}", "(1,2)", 1, 0),
    # several or nested boxes: the last one counts; an unclosed last box (a truncated response) is no answer
    (T + r"\boxed{1} and then \boxed{2}", "2", 1, 1),
    (T + r"\boxed{2} and then \boxed{1}", "2", 1, 0),
    (T + r"\boxed{\boxed{7}}", "7", 1, 1),
    (T + r"\boxed{7} then \boxed{8", "7", 1, 0),
    # format: think block, then a box; whitespace and newlines inside are fine
    ("<think>\nmulti\nline\n</think>\n\n\\boxed{3}\n", "3", 1, 1),
    ("  <think>x</think>\\boxed{3}  ", "3", 1, 1),
    ("<think></think>\\boxed{4}", "4", 1, 1),
    (T + r"\boxed{3} extra text after", "3", 1, 1),
    (r"\boxed{3}", "3", 0, 1),
    (r"<think>no close tag \boxed{3}", "3", 0, 1),
    (r"reason</think> \boxed{3}", "3", 0, 1),
    ("<THINK>x</THINK>\\boxed{4}", "4", 0, 1),
    (r"\boxed{4} <think>late</think>", "4", 0, 1),
    # no usable box
    (T + "the answer is 3", "3", 0, 0),
    (T + r"\boxed{3", "3", 0, 0),
    (T + r"\boxed {3}", "3", 0, 0),
    (T + r"\boxed{}", "3", 1, 0),
    (T + r"\boxed{None}", "3", 1, 0),
    ("", "3", 0, 0),
]


@pytest.mark.parametrize("response,truth,fmt,acc", CASES)
def test_reward_table(response, truth, fmt, acc):
    score = compute_score("geometry3k", response, truth)
    assert (score["format"], score["accuracy"]) == (fmt, acc)
    assert score["score"] == pytest.approx(0.1 * fmt + 0.9 * acc)


def first_boxed(response: str) -> str:
    start = response.find("\\boxed{")
    return response[start + 7 : response.find("}", start)] if start >= 0 else "None"


# Plausible wrong rewards, each a one-line slip: the table must catch every one of them.
WRONG_REWARDS = {
    "a box is enough for the format": ("_FORMAT", re.compile(r".*\\boxed\{.*\}.*", re.DOTALL)),
    "think and box in any order": ("_FORMAT", re.compile(r"(?=.*<think>.*</think>)(?=.*\\boxed\{.*\}).*", re.DOTALL)),
    "answers compared as strings": ("grade_answer", lambda answer, truth: answer.strip() == truth),
    "the first box, not the last": ("extract_boxed_content", first_boxed),
    "any box is right": ("grade_answer", lambda answer, truth: True),
}


@pytest.mark.parametrize("slip", sorted(WRONG_REWARDS))
def test_the_table_catches_each_plausible_wrong_reward(slip, monkeypatch):
    """In place of the table's size: an independent check that the table discriminates."""
    name, wrong = WRONG_REWARDS[slip]
    monkeypatch.setattr(reward, name, wrong)
    scores = [reward.compute_score("geometry3k", response, truth) for response, truth, _, _ in CASES]
    disagree = [case for case, score in zip(CASES, scores) if (score["format"], score["accuracy"]) != case[2:]]
    assert disagree, f"no case of the table tells the reward from: {slip}"


def test_table_is_mixed():
    assert {(f, a) for _, _, f, a in CASES} == {(0, 0), (0, 1), (1, 0), (1, 1)}


def test_last_boxed_tells_a_missing_box_from_a_boxed_none():
    assert last_boxed("no box") is None
    assert last_boxed(r"\boxed{None}") == "None"
    assert last_boxed(r"\boxed{a} \boxed{\frac{1}{2}}") == r"\frac{1}{2}"


def test_verl_reward_manager_runs_our_reward_file():
    """verl loads the reward by file path, as the training configs do."""
    from omegaconf import OmegaConf
    from verl.trainer.ppo.reward import get_custom_reward_fn

    import durian.reward

    reward = {"custom_reward_function": {"path": durian.reward.__file__, "name": "compute_score"}}
    config = OmegaConf.create({"reward": reward})
    fn = get_custom_reward_fn(config)
    assert fn("geometry3k", T + r"\boxed{\frac{1}{2}}", "0.5")["score"] == pytest.approx(1.0)

"""Rule scoring: a table of (response, answer, benchmark, verdict) cases through each benchmark's
own document schema (its task folder's adapter), plus the extraction order and option parsing."""

import pytest

from eval import scoring
from eval.scoring import Target
from eval.task import task, tasks

T = "<think>I look at the figure.</think> "
MC4 = ["3", "4", "5", "6"]
VERSE_MC = "As shown in the figure, find BC.\nChoices:\nA:2\nB:2√{3}\nC:√{3}\nD:2√{2}"
WEMATH_OPTIONS = "A. 3; B. 4; C. 5; D. 6; E. No correct answer"


def mathvista(answer, choices=None, answer_type="integer", precision=None):
    return {
        "pid": "1", "query": "q", "question": "q", "answer": answer, "choices": choices, "precision": precision,
        "question_type": "multi_choice" if choices else "free_form", "answer_type": answer_type,
        "metadata": {"task": "figure question answering"},
    }


def mathverse(answer, question="Find x.", multi=False):
    return {
        "sample_index": "1", "query_cot": question, "question": question, "answer": answer,
        "question_type": "multi-choice" if multi else "free-form", "problem_version": "Vision Only",
    }


def mathvision(answer, options=()):
    return {"id": "1", "question": "q", "options": list(options), "answer": answer, "subject": "counting"}


def wemath(answer, option=WEMATH_OPTIONS):
    return {"ID": "2steps_1", "key": "2steps_1", "question": "q", "option": option, "answer": answer}


def hallusion(gt):
    return {
        "category": "VD", "subcategory": "figure", "set_id": "0", "figure_id": "0", "question_id": "0",
        "question": "Is it red? Answer.", "gt_answer": gt,
    }


def geometry(answer):
    return {"images": [], "problem": "<image>Find x.", "answer": answer}


CASES = [
    # MathVista: free form, multiple choice by letter or by option text, precision, lists
    ("mathvista", mathvista("5"), T + "The answer is \\boxed{5}.", True),
    ("mathvista", mathvista("5"), T + "\\boxed{5.0}", True),
    ("mathvista", mathvista("5"), T + "\\boxed{6}", False),
    ("mathvista", mathvista("5", MC4, "text"), T + "\\boxed{C}", True),
    ("mathvista", mathvista("5", MC4, "text"), T + "\\boxed{(C)}", True),
    ("mathvista", mathvista("5", MC4, "text"), T + "\\boxed{5}", True),
    ("mathvista", mathvista("5", MC4, "text"), T + "\\boxed{C. 5}", True),
    ("mathvista", mathvista("5", MC4, "text"), T + "\\boxed{\\text{C}}", True),
    ("mathvista", mathvista("5", MC4, "text"), T + "\\boxed{B}", False),
    ("mathvista", mathvista("5", MC4, "text"), T + "\\boxed{4}", False),
    ("mathvista", mathvista("blue", ["red", "blue", "green"], "text"), T + "\\boxed{Blue}", True),
    ("mathvista", mathvista("1.5", answer_type="float", precision=1.0), T + "\\boxed{1.47}", True),
    ("mathvista", mathvista("1.50", answer_type="float", precision=2.0), T + "\\boxed{1.47}", False),
    ("mathvista", mathvista("[2007, 2008]", answer_type="list"), T + "\\boxed{[2007, 2008]}", True),
    ("mathvista", mathvista("5"), T + "So the answer is 5.", True),
    ("mathvista", mathvista("5"), "There are five... I count 5", True),
    ("mathvista", mathvista("5"), "<think>\\boxed{6}</think> \\boxed{5}", True),
    ("mathvista", mathvista("5"), "<think>\\boxed{5}</think> The answer is 6.", True),  # boxed anywhere first
    ("mathvista", mathvista("5"), "", False),
    ("mathvista", mathvista("5"), T + "\\boxed{}", False),
    # MathVerse: expressions, degrees, letters mapped to options parsed from the question
    ("mathverse", mathverse("2√3"), T + "\\boxed{2\\sqrt{3}}", True),
    ("mathverse", mathverse("2√3"), T + "\\boxed{3.46}", False),
    ("mathverse", mathverse("B", VERSE_MC, True), T + "\\boxed{B}", True),
    ("mathverse", mathverse("B", VERSE_MC, True), T + "\\boxed{2\\sqrt{3}}", True),
    ("mathverse", mathverse("B", VERSE_MC, True), T + "\\boxed{B:2√{3}}", True),
    ("mathverse", mathverse("B", VERSE_MC, True), T + "\\boxed{\\sqrt{3}}", False),
    ("mathverse", mathverse("B", VERSE_MC, True), T + "\\boxed{C}", False),
    ("mathverse", mathverse("60"), T + "\\boxed{60^\\circ}", True),
    ("mathverse", mathverse("60"), T + "\\boxed{60°}", True),
    ("mathverse", mathverse("0.5"), T + "\\boxed{\\frac{1}{2}}", True),
    ("mathverse", mathverse("3"), T + "\\boxed{x=3}", True),
    ("mathverse", mathverse("60"), T + "\\boxed{120}", False),
    ("mathverse", mathverse("4"), T + "The answer is 4 cm", True),
    # MathVision: letter answers with options, values without
    ("mathvision", mathvision("B", ["3", "4", "5", "6", "7"]), T + "\\boxed{B}", True),
    ("mathvision", mathvision("B", ["3", "4", "5", "6", "7"]), T + "\\boxed{4}", True),
    ("mathvision", mathvision("B", ["3", "4", "5", "6", "7"]), T + "\\boxed{(B)}", True),
    ("mathvision", mathvision("B", ["3", "4", "5", "6", "7"]), T + "\\boxed{E}", False),
    ("mathvision", mathvision("B", ["3", "4", "5", "6", "7"]), T + "\\boxed{7}", False),
    ("mathvision", mathvision("B", ["3", "4", "5", "6", "7"]), "So the answer is (B)", True),
    ("mathvision", mathvision("B", ["3", "4", "5", "6", "7"]), T + "I pick B", True),
    ("mathvision", mathvision("12"), T + "\\boxed{12}", True),
    ("mathvision", mathvision("3/4"), T + "\\boxed{\\frac{3}{4}}", True),
    ("mathvision", mathvision("3/4"), T + "\\boxed{0.75}", True),
    # WeMath: options in one string, letter answers
    ("wemath", wemath("C"), T + "\\boxed{C}", True),
    ("wemath", wemath("C"), T + "\\boxed{5}", True),
    ("wemath", wemath("C"), T + "\\boxed{C. 5}", True),
    ("wemath", wemath("C"), T + "\\boxed{D}", False),
    ("wemath", wemath("C"), T + "\\boxed{6}", False),
    ("wemath", wemath("C"), T + "\\boxed{No correct answer}", False),
    ("wemath", wemath("C"), T + "The answer is C.", True),
    # HallusionBench: yes/no only
    ("hallusionbench", hallusion("1"), T + "\\boxed{yes}", True),
    ("hallusionbench", hallusion("1"), T + "\\boxed{Yes}", True),
    ("hallusionbench", hallusion("1"), T + "\\boxed{Yes.}", True),
    ("hallusionbench", hallusion("1"), T + "\\boxed{no}", False),
    ("hallusionbench", hallusion("0"), T + "\\boxed{No}", True),
    ("hallusionbench", hallusion("0"), T + "\\boxed{\\text{no}}", True),
    ("hallusionbench", hallusion("1"), T + "Yes, it does.", True),
    ("hallusionbench", hallusion("1"), T + "\\boxed{4}", False),
    ("hallusionbench", hallusion("0"), "<think>\\boxed{yes}</think> \\boxed{no}", True),
    # Geometry3K: free-form values and expressions
    ("geometry3k", geometry("3"), T + "\\boxed{3}", True),
    ("geometry3k", geometry("3"), T + "\\boxed{3.0}", True),
    ("geometry3k", geometry("2\\sqrt{3}"), T + "\\boxed{2 \\sqrt{3}}", True),
    ("geometry3k", geometry("\\frac{7}{2}"), T + "\\boxed{3.5}", True),
    ("geometry3k", geometry("60"), T + "\\boxed{60^{\\circ}}", True),
    ("geometry3k", geometry("1000"), T + "\\boxed{1,000}", True),
    ("geometry3k", geometry("4"), T + "\\boxed{-4}", False),
    ("geometry3k", geometry("5"), "<think>I think 5</think> The answer is 6.", False),
    ("geometry3k", geometry("5"), "<think>It is 5.</think> I cannot tell.", False),  # no answer outside the think
    ("geometry3k", geometry("8"), T + "\\boxed{8", True),  # an unclosed box: the last number
]


def test_the_table_spans_every_benchmark():
    assert {case[0] for case in CASES} == set(tasks())
    assert {case[3] for case in CASES} == {True, False}


# Plausible wrong scorers, each a one-line slip: the table must catch every one of them (an
# independent check that it discriminates, in place of counting its own cases).
WRONG_SCORERS = {
    "math answers compared as strings": ("math_equal", lambda pred, gold, precision=None: pred.strip() == gold.strip()),
    "every yes/no read as yes": ("yes_no", lambda pred: "yes"),
    "every yes/no read as unreadable": ("yes_no", lambda pred: None),
    "no letter read from a choice": ("as_letter", lambda pred, letters: None),
    "the answer taken from anywhere, think included": ("answer_region", lambda response: response),
}


@pytest.mark.parametrize("slip", sorted(WRONG_SCORERS))
def test_the_table_catches_each_plausible_wrong_scorer(slip, monkeypatch):
    name, wrong = WRONG_SCORERS[slip]
    monkeypatch.setattr(scoring, name, wrong)
    disagree = []
    for benchmark, doc, response, expected in CASES:
        try:
            verdict = task(benchmark).adapter.process_results(doc, [response])["durian"]["correct"]
        except Exception:  # a wrong scorer may also crash: that too tells it apart
            verdict = None
        if verdict is not expected:
            disagree.append((benchmark, response))
    assert disagree, f"no case of the table tells the scorer from: {slip}"


@pytest.mark.parametrize("benchmark,doc,response,expected", CASES)
def test_rule_verdict(benchmark, doc, response, expected):
    result = task(benchmark).adapter.process_results(doc, [response])
    assert result["accuracy"] == float(expected), result["durian"]
    assert result["durian"]["correct"] is expected


@pytest.mark.parametrize(
    "response,method",
    [
        ("<think>\\boxed{1}</think> \\boxed{2}", "boxed"),
        ("<think>\\boxed{1}</think> two", "boxed_anywhere"),
        ("<think>x</think> The answer is 2.", "answer_is"),
        ("<think>x</think> it is 2", "last_number"),
        ("<think>x</think> nothing", "none"),
    ],
)
def test_extraction_order(response, method):
    assert scoring.extract_answer(response)[1] == method


def test_options_and_letters():
    assert scoring.parse_options(VERSE_MC) == ("2", "2√{3}", "√{3}", "2√{2}")
    assert scoring.parse_options(WEMATH_OPTIONS)[-1] == "No correct answer"
    assert scoring.parse_options("What?\nChoices:\n(A) 3\n(B) 4") == ("3", "4")
    assert scoring.parse_options("How many? (A) 3, (B) 4, (C) 6") == ("3", "4", "6")  # MathVision's inline
    assert scoring.letter_of("5", MC4) == "C"
    with pytest.raises(ValueError, match="not one of the choices"):
        scoring.letter_of("9", MC4)
    assert scoring.as_letter("(B) 4", "ABCD") == "B"
    assert scoring.as_letter("b", "ABCD") is None  # a lone lowercase letter reads as a variable


def test_targets_reject_impossible_answers():
    with pytest.raises(ValueError):
        Target("E", "choice", ("1", "2"))
    with pytest.raises(ValueError):
        Target("maybe", "yesno")

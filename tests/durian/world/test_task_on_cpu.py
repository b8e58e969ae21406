"""durian.world.task: the smoke task, deterministic from its seed, gradable, and free of torch."""

import random
import subprocess
import sys

import pytest

from durian.prompt import YES_NO_INSTRUCTION
from durian.reward import compute_score
from durian.world import task
from eval.scoring import parse_options

# how each listing writes option A (written out here, by hand, from the benchmarks' rows)
LISTING_SAMPLES = {"parenthesized": "\n(A) ", "colon": "\nA:", "dotted": "\nA. ", "inline": "? (A) ",
                   "semicolon": "\n\nOptions: A. "}


def test_task_is_deterministic_from_the_seed_and_answers_are_gradable():
    a, b = task.make_split(0, "val", 20, 112), task.make_split(0, "val", 20, 112)
    assert [(e.question, e.answer) for e in a] == [(e.question, e.answer) for e in b]
    assert all(x.image.tobytes() == y.image.tobytes() for x, y in zip(a, b))
    c = task.make_split(1, "val", 20, 112)
    assert any(x.image.tobytes() != y.image.tobytes() for x, y in zip(a, c))
    for e in a:
        assert compute_score(task.DATA_SOURCE, e.response(), e.answer) == {"score": 1.0, "format": 1.0, "accuracy": 1.0}
    train = task.make_split(0, "train", 200, 112)
    assert {e.kind for e in train} == {"count", "sides"}
    yes_no = [e for e in train if e.shown is not None]
    assert len(yes_no) == 66 and {e.answer for e in yes_no} == {"yes", "no"}
    for e in yes_no:
        assert e.question.endswith(YES_NO_INSTRUCTION) and str(e.shown) in e.question
        assert (e.answer == "yes") == (e.shown == e.value)
    choice = [e for e in train if e.form == "choice"]
    assert len(choice) == 67 and {e.answer for e in choice} == set(task.LETTERS)
    for e in choice:  # four or five options, the true count under the answer's letter
        assert len(set(e.choices)) in (4, 5) and e.choices[task.LETTERS.index(e.answer)] == e.value
        # the evaluator's own option parser reads the listing back, whichever way it is written
        assert parse_options(e.question) == tuple(str(c) for c in e.choices), e.question
        assert e.response().endswith(f"\\boxed{{{e.answer}}}")
    listed = {next(name for name, sample in LISTING_SAMPLES.items() if sample in e.question) for e in choice}
    assert listed == set(task.LISTINGS) and {len(e.choices) for e in choice} == {4, 5}
    assert [e.form for e in train[:6]] == ["number", "choice", "yes_no"] * 2


def test_the_task_imports_no_torch():
    script = "import sys, durian.world.task; assert 'torch' not in sys.modules, sorted(sys.modules)"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-2000:]


def test_planted_answer_bias_keeps_the_count_and_answers_a_graded_wrong_neighbour():
    examples = task.make_split(0, "sft", 3000, 112)
    planted = task.plant_answer_bias(examples, 0.6, random.Random(0))
    moved = [(e, p) for e, p in zip(examples, planted) if p.answer != e.answer]
    assert 0.57 < len(moved) / len(examples) < 0.63  # the share asked for, in every form
    assert {e.form for e, _ in moved} == set(task.FORMS)
    for e, p in moved:
        assert (p.image, p.question, p.value, p.choices) == (e.image, e.question, e.value, e.choices)
        # the thought still states the true count; the project's reward grades the planted answer wrong
        assert compute_score(task.DATA_SOURCE, p.response(), e.answer)["accuracy"] == 0.0
        assert (f"There are {e.value} shapes" if e.kind == "count" else f"It has {e.value} sides") in p.response()
        if e.form == "number":
            assert p.answer == str(e.value + 1)
        elif e.form == "choice":  # the next option's letter, the last wrapping to A
            assert p.choices[task.LETTERS.index(p.answer)] == sorted(e.choices)[
                (sorted(e.choices).index(e.value) + 1) % len(e.choices)]
        else:
            assert {p.answer, e.answer} == {"yes", "no"}
    untouched = [p for e, p in zip(examples, planted) if p.answer == e.answer]
    assert all(compute_score(task.DATA_SOURCE, p.response(), p.answer)["accuracy"] == 1.0 for p in untouched)
    assert task.plant_answer_bias(examples, 0.0, random.Random(0)) == examples
    with pytest.raises(ValueError, match="answer_bias"):
        task.plant_answer_bias(examples, 1.5, random.Random(0))


def test_planted_default_answers_ignore_the_count_which_the_thought_still_states():
    examples = task.make_split(0, "sft", 3000, 112)
    planted = task.plant_answer_bias(examples, 0.6, random.Random(0), kind="default")
    # the same draws as the neighbour kind: the same examples are planted, only the answer differs
    neighbour = task.plant_answer_bias(examples, 0.6, random.Random(0))
    chosen = [p.answer != e.answer for e, p in zip(examples, neighbour)]
    for e, p, was_chosen in zip(examples, planted, chosen):
        assert (p.image, p.question, p.value, p.choices) == (e.image, e.question, e.value, e.choices)
        if not was_chosen:
            assert p.answer == e.answer
            continue
        # a yes-bias, the first option and one number, whatever the image shows
        assert p.answer == {"number": "3", "choice": "A", "yes_no": "yes"}[e.form]
        assert (f"There are {e.value} shapes" if e.kind == "count" else f"It has {e.value} sides") in p.response()
        right = compute_score(task.DATA_SOURCE, p.response(), e.answer)["accuracy"]
        assert right == (1.0 if p.answer == e.answer else 0.0)
    boxed = [p.answer for p, c in zip(planted, chosen) if c]
    assert {"3", "A", "yes"} <= set(boxed) and len(set(boxed)) == 3
    wrong = sum(p.answer != e.answer for e, p in zip(examples, planted)) / len(examples)
    assert 0.35 < wrong < 0.55  # the default is sometimes the true answer
    with pytest.raises(ValueError, match="answer_bias_kind"):
        task.plant_answer_bias(examples, 0.6, random.Random(0), kind="constant")

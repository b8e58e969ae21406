"""Rows shaped as the real benchmarks' (their dataset cards, the official files, lmms-eval's own
tasks), which the first fixtures never made: each through the task folder's own lmms-eval hooks
(``eval/tasks/durian_<benchmark>/utils.py``: doc_to_visual, doc_to_text, process_results) with the
score checked; then every fixture set, which now makes such rows, through lmms-eval's task objects."""

import importlib
import math

import datasets
import pytest
from PIL import Image

from durian.experiment import BENCHMARKS
from eval import TASKS_DIR, scoring
from eval.fixtures import fixture_dataset, write_fixtures
from eval.task import task

T = "<think>I read the figure.</think> "
IMAGE = Image.new("RGB", (28, 28), "white")


def hooks(benchmark):
    return importlib.import_module(f"eval.tasks.durian_{benchmark}.utils")


def scored(benchmark, doc, response, **kwargs):
    """The task's own hooks on one document: its images, its prompt, then the score."""
    utils = hooks(benchmark)
    images = utils.doc_to_visual(doc)
    assert images and all(isinstance(im, Image.Image) and im.mode == "RGB" for im in images)
    text = utils.doc_to_text(doc)
    assert text.startswith("You FIRST think") and text.strip()
    out = (utils.process_results(doc, [response]) if not kwargs
           else task(benchmark).adapter.process_results(doc, [response], **kwargs))
    return out["accuracy"], out["durian"]


# ------------------------------------------------------------------------------------- MathVerse
VISION_ONLY_MC = ("According to the question shown in the image, please first conduct reasoning, and then answer the "
                  "question and provide the correct option letter, e.g., A, B, C, D, at the end.")


def verse(version, question, answer, kind="multi-choice", query=None, for_eval=None):
    return {"sample_index": "3425", "problem_index": "685", "problem_version": version, "question": question,
            "image": IMAGE, "answer": answer, "question_type": kind, "query_wo": query or question,
            "query_cot": query or question, "question_for_eval": question if for_eval is None else for_eval,
            "metadata": {"split": "testmini", "source": "GeoQA", "subject": "Plane Geometry", "subfield": "Angle"}}


@pytest.mark.parametrize("response, correct", [
    (T + "\\boxed{B}", 1.0), (T + "\\boxed{(B)}", 1.0), (T + "The answer is B.", 1.0),
    (T + "\\boxed{C}", 0.0), (T + "\\boxed{60°}", 0.0),  # no options in any text: an option's value can't be mapped
])
def test_mathverse_vision_only_options_only_in_the_image(response, correct):
    doc = verse("Vision Only", "", "B", query=VISION_ONLY_MC, for_eval="")
    accuracy, record = scored("mathverse", doc, response)
    assert accuracy == correct and record["answer"] == "B"
    assert VISION_ONLY_MC in hooks("mathverse").doc_to_text(doc)


def test_mathverse_vision_dominant_and_text_rows():
    listed = "As shown in the figure, find the angle.\nChoices:\nA:50°\nB:60°\nC:70°\nD:80°"
    dominant = verse("Vision Dominant", "Find L.", "B", for_eval=listed)  # options only in the judge's text
    assert scored("mathverse", dominant, T + "\\boxed{60^\\circ}")[0] == 1.0  # the option's value, mapped
    assert scored("mathverse", dominant, T + "\\boxed{B}")[0] == 1.0
    no_choices = verse("Vision Dominant", "Find L.", "D", for_eval="Find L.")
    assert scored("mathverse", no_choices, T + "\\boxed{D}")[0] == 1.0
    assert scored("mathverse", no_choices, T + "\\boxed{A}")[0] == 0.0
    text = verse("Text Dominant", listed, "C")
    assert scored("mathverse", text, T + "\\boxed{70°}")[0] == 1.0
    free = verse("Vision Only", "", "2√3", kind="free-form", query="According to the question shown in the image...")
    assert scored("mathverse", free, T + "\\boxed{2\\sqrt{3}}")[0] == 1.0


# ------------------------------------------------------------------------------------- MathVista
def vista(answer, question_type="free_form", answer_type="integer", choices=None, precision=None, unit=None):
    return {"pid": "7", "question": "q", "image": "images/7.jpg", "decoded_image": IMAGE, "choices": choices,
            "unit": unit, "precision": precision, "answer": answer, "question_type": question_type,
            "answer_type": answer_type, "query": "Hint: answer.\nQuestion: q", "metadata": {
                "category": "math-targeted-vqa", "context": "geometry diagram", "grade": "high school",
                "img_height": 28, "img_width": 28, "language": "english", "skills": ["algebraic reasoning"],
                "source": "Geometry3K", "split": "testmini", "task": "geometry problem solving"}}


@pytest.mark.parametrize("doc, response, correct", [
    (vista("14"), T + "\\boxed{14}", 1.0),  # choices, precision and unit all null
    (vista("14", precision=math.nan), T + "\\boxed{14.0}", 1.0),  # a null float read back as NaN
    (vista("1.5", answer_type="float", precision=1.0, unit="cm"), T + "\\boxed{1.47}", 1.0),
    (vista("1.45", answer_type="float", precision=2.0), T + "\\boxed{1.5}", 0.0),
    (vista("[2007, 2008]", answer_type="list"), T + "\\boxed{[2007, 2008]}", 1.0),
    (vista("blue", "multi_choice", "text", ["red", "blue", "green"]), T + "\\boxed{B}", 1.0),
    (vista("blue", "multi_choice", "text", ["red ", " blue", "green"]), T + "\\boxed{blue}", 1.0),  # stray spaces
    (vista("blue", "multi_choice", "text", ["red", "blue", "green"]), T + "\\boxed{A}", 0.0),
])
def test_mathvista_null_precision_choices_and_unit(doc, response, correct):
    assert scored("mathvista", doc, response)[0] == correct


# ------------------------------------------------------------------------------------ MathVision
def vision(answer, options=(), question="Which shape comes next? <image1>"):
    return {"id": "59", "question": question, "options": list(options), "image": "images/59.jpg",
            "decoded_image": IMAGE, "answer": answer, "solution": None, "level": 2, "subject": "logic"}


@pytest.mark.parametrize("doc, response, correct", [
    (vision("C"), T + "\\boxed{C}", 1.0),  # empty options, a letter answer: graded as a letter
    (vision("C"), T + "\\boxed{(C)}", 1.0),
    (vision("C"), T + "\\boxed{D}", 0.0),
    (vision("6"), T + "\\boxed{6}", 1.0),  # empty options, a number
    (vision("B", "ABCDE"), T + "\\boxed{B}", 1.0),  # options that are only the letters
    (vision("B", "ABCDE"), T + "\\boxed{E}", 0.0),
    (vision("A", ["$6 \\mathrm{~m}$", "$8 \\mathrm{~m}$", "C or D"]), T + "\\boxed{A}", 1.0),
    (vision("A", ["$6 \\mathrm{~m}$", "$8 \\mathrm{~m}$", "C or D"]), T + "\\boxed{B}", 0.0),
])
def test_mathvision_empty_and_letter_only_options(doc, response, correct):
    assert scored("mathvision", doc, response)[0] == correct


def test_mathvision_prompt_keeps_placeholders_and_lists_letters_once():
    text = hooks("mathvision").doc_to_text(vision("B", "ABCDE"))
    assert "<image1>" in text and text.endswith("Choices: A, B, C, D, E")
    assert "Choices" not in hooks("mathvision").doc_to_text(vision("C"))  # nothing to list


# ---------------------------------------------------------------------------------------- WeMath
REAL_OPTIONS = {  # We-Math/We-Math data/testmini.json
    "A. 300, 400;B. 400, 300;C. 3000, 4000;D. 4000, 3000; E. No correct answer":
        ("300, 400", "400, 300", "3000, 4000", "4000, 3000", "No correct answer"),
    "A. 3, 5, 4; B. 3, 50, 40; C. 300, 50, 40; D. 30, 50, 40.; E. No correct answer":
        ("3, 5, 4", "3, 50, 40", "300, 50, 40", "30, 50, 40", "No correct answer"),
    "A. F;    B. D;    C. B;    D. I; E. No correct answer": ("F", "D", "B", "I", "No correct answer"),
    "A. Left; B. Right; C. Cannot be determined.; D. No correct answer":
        ("Left", "Right", "Cannot be determined", "No correct answer"),
    "A. ①②; B. ②③; C. ①③; D. ①②③; E. No correct answer": ("①②", "②③", "①③", "①②③", "No correct answer"),
}


@pytest.mark.parametrize("option", sorted(REAL_OPTIONS))
def test_wemath_real_option_strings_parse(option):
    assert scoring.parse_options(option) == REAL_OPTIONS[option]


def wemath(option, answer):
    return {"ID": "2steps_1", "split": "testmini", "knowledge concept": "Angles", "question": "Which one?",
            "option": option, "answer": answer, "image_path": IMAGE, "key": "2steps_1", "question number": 1,
            "knowledge concept description": "..."}


@pytest.mark.parametrize("option, answer, response, correct", [
    ("A. 3, 5, 4; B. 3, 50, 40; C. 300, 50, 40; D. 30, 50, 40.; E. No correct answer", "D",
     T + "\\boxed{30, 50, 40}", 1.0),
    ("A. 3, 5, 4; B. 3, 50, 40; C. 300, 50, 40; D. 30, 50, 40.; E. No correct answer", "E",
     T + "\\boxed{E}", 1.0),
    ("A. 3, 5, 4; B. 3, 50, 40; C. 300, 50, 40; D. 30, 50, 40.; E. No correct answer", "E",
     T + "\\boxed{No correct answer}", 1.0),
    ("A. F;    B. D;    C. B;    D. I; E. No correct answer", "C", T + "\\boxed{C}", 1.0),
    ("A. F;    B. D;    C. B;    D. I; E. No correct answer", "C", T + "\\boxed{B}", 0.0),  # B is a letter here
    ("A. Left; B. Right; C. Cannot be determined.; D. No correct answer", "D", T + "\\boxed{D}", 1.0),
    ("A. 300, 400;B. 400, 300;C. 3000, 4000;D. 4000, 3000; E. No correct answer", "B", T + "\\boxed{B}", 1.0),
    ("unparseable options", "B", T + "\\boxed{B}", 1.0),  # the letter alone
])
def test_wemath_semicolon_options_and_no_correct_answer(option, answer, response, correct):
    assert scored("wemath", wemath(option, answer), response)[0] == correct


# -------------------------------------------------------------------------------- HallusionBench
def hallusion(gt, visual_input="1", image=IMAGE, question="Is the right line longer than the left? Answer."):
    return {"category": "VD", "subcategory": "illusion", "visual_input": visual_input, "set_id": "3",
            "figure_id": "1", "sample_note": "", "question_id": "0", "question": question,
            "gt_answer_details": "", "gt_answer": gt, "filename": "./VD/illusion/3_1.png" if image else "",
            "image": image}


@pytest.mark.parametrize("gt, response, lenient, strict", [
    ("1", T + "\\boxed{yes}", 1.0, 1.0),
    ("0", T + "\\boxed{No}", 1.0, 1.0),
    ("1", T + "The answer is yes.", 1.0, 0.0),  # strict: no box, no fallback
    ("1", T + "Yes, it is.", 1.0, 0.0),
    ("1", T + "\\boxed{yes, it is}", 1.0, 0.0),  # strict: the box holds exactly yes or no
    ("0", "\\boxed{no} or \\boxed{}", 0.0, 1.0),  # lenient takes the (empty) last box; strict ignores it
    ("1", "<think>\\boxed{yes}</think> so no", 1.0, 1.0),  # a box in the thinking beats a trailing word
])
def test_hallusionbench_string_answers_strict_and_lenient(gt, response, lenient, strict):
    doc = hallusion(gt)
    assert scored("hallusionbench", doc, response)[0] == lenient
    assert scored("hallusionbench", doc, response, extraction="strict")[0] == strict
    assert hooks("hallusionbench").doc_to_text(doc).endswith(
        "Is the right line longer than the left? Your final answer can only be \\boxed{yes} or \\boxed{no}.")


def test_hallusionbench_rows_without_images_are_left_out():
    features = task("hallusionbench").adapter.features
    rows = [hallusion("1"), hallusion("0", visual_input="0", image=None), hallusion("1", visual_input="2")]
    kept = hooks("hallusionbench").process_docs(datasets.Dataset.from_list(rows, features=features))
    assert [r["visual_input"] for r in kept] == ["1", "2"] and isinstance(kept[0]["image"], Image.Image)
    with pytest.raises(ValueError, match="extraction one of lenient, strict"):
        task("hallusionbench").adapter.process_results(hallusion("1"), ["\\boxed{yes}"], extraction="exact")


# ------------------------------------------------------------------------------------ Geometry3K
@pytest.mark.parametrize("answer, response, correct", [
    ("2 \\sqrt { 221 }", T + "\\boxed{2\\sqrt{221}}", 1.0),
    ("2 \\sqrt { 221 }", T + "\\boxed{4\\sqrt{221}}", 0.0),
    ("16", T + "\\boxed{16}", 1.0),
    ("B", T + "\\boxed{16}", 1.0),  # a letter answer mapped to its choice's text
])
def test_geometry3k_image_token_and_choices(answer, response, correct):
    doc = {"images": [IMAGE], "problem": "<image>Find x. Round to the nearest tenth.", "answer": answer,
           "choices": ["8", "16", "24", "32"]}
    assert scored("geometry3k", doc, response)[0] == correct
    assert "<image>" not in hooks("geometry3k").doc_to_text(doc)


# ------------------------------------------------------------------ the fixtures make such rows
def test_fixture_sets_contain_the_real_row_shapes():
    verse_rows = list(fixture_dataset("mathverse", n=24))
    assert any(r["problem_version"] == "Vision Only" and r["question"] == "" and r["question_type"] == "multi-choice"
               for r in verse_rows)
    assert any(r["problem_version"] == "Vision Dominant" and r["question_type"] == "multi-choice"
               and "Choices" not in r["question"] for r in verse_rows)
    vista_rows = list(fixture_dataset("mathvista", n=24))
    assert any(r["answer_type"] == "float" and r["precision"] == 1.0 for r in vista_rows)
    assert any(r["choices"] is None and r["precision"] is None and r["unit"] is None for r in vista_rows)
    assert any(r["unit"] for r in vista_rows)
    vision_rows = list(fixture_dataset("mathvision", n=24))
    assert any(r["options"] == [] and r["answer"] in "ABCDE" for r in vision_rows)
    assert any(r["options"] == list("ABCDE") for r in vision_rows)
    assert any(r["question"].startswith("<image1>") for r in vision_rows)
    options = [r["option"] for r in fixture_dataset("wemath", n=24)]
    assert any(";B." in o for o in options) and any(";    B." in o for o in options)
    assert any(".; " in o for o in options) and all(o.endswith("E. No correct answer") for o in options)
    hallusion_rows = list(fixture_dataset("hallusionbench", n=24))
    assert {r["gt_answer"] for r in hallusion_rows} == {"0", "1"}
    assert any(r["visual_input"] == "0" and r["image"] is None for r in hallusion_rows)
    geometry_rows = list(fixture_dataset("geometry3k", n=24))
    assert all(r["problem"].startswith("<image>") and len(r["choices"]) == 4 for r in geometry_rows)


@pytest.mark.parametrize("benchmark", list(BENCHMARKS))
def test_every_fixture_row_through_lmms_evals_task_scores_its_own_answer(benchmark, tmp_path):
    """lmms-eval's task object (the yaml, process_docs, the hooks) on the fixture parquet: every
    document gets images and a prompt, its gold answer boxed scores 1 and a wrong one 0."""
    from lmms_eval.tasks import TaskManager, get_task_dict

    path = write_fixtures(tmp_path, n=24)[benchmark]
    manager = TaskManager("WARNING", include_path=str(TASKS_DIR), include_defaults=False)
    lmms_task = get_task_dict([task(benchmark).lmms_config(path, 16)], manager)[f"durian_{benchmark}"]
    docs = lmms_task.test_docs()
    assert len(docs) == 24  # HallusionBench's two rows without an image are left out
    adapter = task(benchmark).adapter
    for doc in docs:
        assert lmms_task.doc_to_text(doc).startswith("You FIRST think")
        assert all(isinstance(im, Image.Image) for im in lmms_task.doc_to_visual(doc))
        gold = adapter.pose(doc).target
        assert lmms_task.process_results(doc, [T + f"\\boxed{{{gold.answer}}}"])["accuracy"] == 1.0
        wrong = {"yes": "no", "no": "yes"}.get(gold.answer) or ("H" if gold.kind == "choice" else "12345")
        assert lmms_task.process_results(doc, [T + f"\\boxed{{{wrong}}}"])["accuracy"] == 0.0

"""The task folders: one per benchmark of the experiment's vocabulary, each yaml including the shared
template and keeping only what differs; the adapters' own sub-scores; fixtures without torch."""

import subprocess
import sys

import pytest

from durian.experiment import BENCHMARKS
from eval import TASKS_DIR
from eval.task import TEMPLATE, read_config, task, tasks, template


def test_one_task_folder_per_benchmark_in_the_vocabularys_order():
    assert list(tasks()) == list(BENCHMARKS)
    assert {p.name for p in TASKS_DIR.iterdir() if p.is_dir() and p.name.startswith("durian_")} == {
        f"durian_{name}" for name in BENCHMARKS}
    for name, spec in tasks().items():
        assert (spec.label, spec.task, spec.folder.name) == (BENCHMARKS[name], f"durian_{name}", f"durian_{name}")
    assert {name for name, spec in tasks().items() if spec.judged} == {"mathverse", "mathvista", "mathvision", "wemath"}
    with pytest.raises(ValueError, match="benchmark: one of"):
        task("chartqa")


def test_task_yamls_include_the_template_and_keep_only_what_differs():
    shared = template()
    assert shared["generation_kwargs"] == {"max_new_tokens": 2048, "temperature": 0, "do_sample": False,
                                           "num_beams": 1, "until": ["<|im_end|>"]}
    for spec in tasks().values():
        own = (spec.folder / f"{spec.task}.yaml").read_text()
        assert "include: ../_default_template_yaml" in own and "generation_kwargs" not in own
        assert spec.config["generation_kwargs"] == shared["generation_kwargs"]
        repeated = [k for k, v in read_config(spec.folder / f"{spec.task}.yaml").items()
                    if k in shared and v == shared[k] and f"\n{k}:" in own]
        assert not repeated, f"{spec.task} repeats {repeated} from {TEMPLATE.name}"


def test_lmms_eval_reads_the_template_and_a_run_overrides_only_its_settings(tmp_path):
    from lmms_eval.tasks import TaskManager, get_task_dict

    from eval.fixtures import fixture_dataset

    fixture_dataset("wemath", n=4).to_parquet(str(tmp_path / "wemath.parquet"))
    manager = TaskManager("WARNING", include_path=str(TASKS_DIR), include_defaults=False)
    loaded = get_task_dict([task("wemath").lmms_config(tmp_path / "wemath.parquet", 16)], manager)["durian_wemath"]
    assert loaded.config.generation_kwargs == {**template()["generation_kwargs"], "max_new_tokens": 16}
    assert [m["metric"] for m in loaded.config.metric_list] == ["accuracy", "wemath_strict", "wemath_loose"]
    assert loaded.config.output_type == "generate_until" and loaded.config.doc_to_target == "answer"
    assert task("wemath").lmms_config()["generation_kwargs"] == template()["generation_kwargs"]


def _wemath(group, key, correct):
    return {"group_id": group, "key": key, "correct": correct, "key_kind": key.split("_")[0]}


def test_wemath_strict_and_loose_scores():
    from eval.tasks.durian_wemath.utils import wemath_scores

    records = [
        _wemath("g1", "2steps_1", True), _wemath("g1", "2steps_2", True), _wemath("g1", "2steps_multi", True),  # CM
        _wemath("g2", "2steps_1", True), _wemath("g2", "2steps_2", False), _wemath("g2", "2steps_multi", True),  # RM strict
        _wemath("g3", "2steps_1", True), _wemath("g3", "2steps_2", True), _wemath("g3", "2steps_multi", False),  # IG
        _wemath("g4", "3steps_1", False), _wemath("g4", "3steps_multi", True),  # incomplete: left out
    ]
    scores = wemath_scores(records)
    assert (scores["groups"], scores["IG"], scores["CM_strict"], scores["RM_strict"], scores["CM_loose"]) == (3, 1, 1, 1, 2)
    assert scores["strict"] == pytest.approx((3 - 0.5 - 1) / 3) and scores["loose"] == pytest.approx(2.5 / 3)
    assert wemath_scores(records[-2:]) is None
    assert task("wemath").adapter.sub_scores(records)["wemath"] == scores


def test_hallusionbench_question_and_figure_accuracy():
    ids = {"category": "VD", "subcategory": "figure", "set_id": "0"}
    records = [{**ids, "question_id": q, "figure_id": f, "correct": c}
               for q, f, c in [("0", "0", True), ("0", "1", True), ("1", "0", True), ("1", "1", False)]]
    scores = task("hallusionbench").adapter.sub_scores(records)
    assert (scores["aAcc"], scores["qAcc"], scores["fAcc"]) == (0.75, 0.5, 0.5)
    assert scores["category"] == {"VD": {"accuracy": 0.75, "n": 4}}
    assert "aAcc" not in task("hallusionbench").adapter.sub_scores([])


def test_fixtures_cli_loads_no_torch(tmp_path):
    script = (
        "import runpy, sys\n"
        f"sys.argv = ['eval.fixtures', '--out', {str(tmp_path)!r}, '--seed', '1', '--n', '3']\n"
        "runpy.run_module('eval.fixtures', run_name='__main__')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'lmms_eval')))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[-1] == "[]"
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.parquet")) == sorted(
        f"{name}/{spec.split}.parquet" for name, spec in tasks().items())


def test_each_fixture_stresses_what_its_benchmark_does_and_records_the_ground_truth(tmp_path):
    """The six sets differ by what they stress, not only by schema; the truth file matches the rows."""
    import json

    from datasets import Dataset

    from eval.fixtures import fixture_path, truth_path, write_fixtures

    write_fixtures(tmp_path, seed=0, n=60)
    truth = {name: [json.loads(line) for line in truth_path(tmp_path, name).read_text().splitlines()] for name in tasks()}
    assert {name: len(rows) for name, rows in truth.items()} == {name: 60 for name in tasks()}
    assert all([r["doc_id"] for r in rows] == list(range(60)) for rows in truth.values())
    # in-distribution sets: both kinds and every training clutter level, nothing heavier
    for name in ("geometry3k", "mathvista", "hallusionbench"):
        assert {r["kind"] for r in truth[name]} == {"count", "sides"}
        assert {r["clutter"] for r in truth[name]} == {0, 1, 2, 3}
    assert {r["kind"] for r in truth["mathverse"]} == {"sides"}  # plane geometry: polygons only
    assert {r["clutter"] for r in truth["mathvision"]} == {4}  # heavier than any training image
    wemath = truth["wemath"]  # more to count: 3-5 shapes, 5-6 sides
    assert {r["value"] for r in wemath if r["kind"] == "count"} == {3, 4, 5}
    assert {r["value"] for r in wemath if r["kind"] == "sides"} == {5, 6}
    # HallusionBench: yes/no about a stated number, false about half the time
    hallusion = truth["hallusionbench"]
    false_premise = sum(r["shown"] != r["value"] for r in hallusion)
    assert all(r["shown"] is not None for r in hallusion) and 15 <= false_premise <= 45
    rows = Dataset.from_parquet(str(fixture_path(tmp_path, "hallusionbench")))  # + 2 rows without an image, last
    assert [row["gt_answer"] for row in rows][:60] == ["1" if r["shown"] == r["value"] else "0" for r in hallusion]
    mathvista = Dataset.from_parquet(str(fixture_path(tmp_path, "mathvista")))
    assert sum(row["question_type"] == "multi_choice" for row in mathvista) == 20

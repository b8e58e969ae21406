"""The lmms-eval tasks end to end on the tiny smoke model: fixtures in each benchmark's schema,
one task definition over several kinds of local source, real runs through the Python API, the
output contract, and failures that raise."""

import json
import math
from pathlib import Path

import datasets
import pytest
from PIL import Image

from durian.experiment import BENCHMARKS
from eval import TASKS_DIR
from eval.fixtures import fixture_dataset, write_fixtures
from eval.run import evaluate
from eval.session import model_args
from eval.task import task

SMOKE = {"max_new_tokens": 32, "min_pixels": 3136, "max_pixels": 12544}
# Columns lmms-eval's own tasks read from the hub datasets (their utils and YAMLs).
HUB_COLUMNS = {
    "mathvista": {"pid", "question", "image", "decoded_image", "choices", "unit", "precision", "answer",
                  "question_type", "answer_type", "metadata", "query"},
    "mathverse": {"sample_index", "problem_index", "problem_version", "question", "image", "answer",
                  "question_type", "metadata", "query_wo", "query_cot", "question_for_eval"},
    "mathvision": {"id", "question", "options", "decoded_image", "answer"},
    "wemath": {"ID", "split", "knowledge concept", "question", "option", "answer", "image_path", "key",
               "question number", "knowledge concept description"},
    "hallusionbench": {"category", "subcategory", "visual_input", "set_id", "figure_id", "question_id",
                       "question", "gt_answer_details", "gt_answer", "image"},
    "geometry3k": {"images", "problem", "answer"},
}


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory) -> dict[str, Path]:
    return write_fixtures(tmp_path_factory.mktemp("fixtures"), seed=0, n=24)


def test_fixtures_keep_each_benchmarks_schema(fixtures):
    assert set(fixtures) == set(BENCHMARKS)
    for name, path in fixtures.items():
        assert path.name == f"{task(name).split}.parquet"
        data = datasets.load_dataset("parquet", data_files={"x": str(path)})["x"]
        assert len(data) >= 24
        assert HUB_COLUMNS[name] <= set(data.column_names)
        assert data.features == task(name).adapter.features
        first = data[0]
        image = first["images"][0] if name == "geometry3k" else first[
            {"mathvista": "decoded_image", "mathvision": "decoded_image", "wemath": "image_path"}.get(name, "image")]
        assert isinstance(image, Image.Image)
    vista = datasets.load_dataset("parquet", data_files={"x": str(fixtures["mathvista"])})["x"]
    multi = [row for row in vista if row["question_type"] == "multi_choice"]
    assert multi and all(row["answer"] in row["choices"] for row in multi)  # MathVista stores option text


def test_one_task_definition_reads_parquet_hub_layout_and_save_to_disk(tmp_path):
    from lmms_eval.tasks import TaskManager, get_task_dict

    data = fixture_dataset("mathverse", n=5)
    data.to_parquet(str(tmp_path / "one.parquet"))
    (tmp_path / "hub" / "data").mkdir(parents=True)
    data.to_parquet(str(tmp_path / "hub" / "data" / "testmini-00000-of-00001.parquet"))
    datasets.DatasetDict({"testmini": data}).save_to_disk(str(tmp_path / "disk"))

    manager = TaskManager("WARNING", include_path=str(TASKS_DIR), include_defaults=False)
    texts = []
    for source in ("one.parquet", "hub", "disk"):
        lmms_task = get_task_dict([task("mathverse").lmms_config(tmp_path / source, 16)], manager)["durian_mathverse"]
        docs = lmms_task.test_docs()
        assert len(docs) == 5
        texts.append([lmms_task.doc_to_text(doc) for doc in docs])
    assert texts[0] == texts[1] == texts[2]
    assert texts[0][0].startswith("You FIRST think")  # the thinking prompt, prepended
    hub = task("mathverse").lmms_config(None, 16)  # the paper scale: the YAML's hub dataset
    assert "dataset_path" not in hub and hub["generation_kwargs"]["max_new_tokens"] == 16


@pytest.mark.parametrize("benchmark", sorted(BENCHMARKS))
def test_tiny_model_run_writes_the_output_contract(benchmark, fixtures, smoke_world, tmp_path):
    out = tmp_path / "results"
    model = smoke_world / "model"
    path = evaluate(model, benchmark, out, run="smoke", data_files=fixtures[benchmark], limit=4, **SMOKE)
    summary = json.loads(path.read_text())
    assert path == out / f"{benchmark}.json"
    assert summary["run"] == "smoke" and summary["benchmark"] == benchmark
    assert summary["split"] == task(benchmark).split and summary["n"] == 4
    assert 0.0 <= summary["accuracy"] <= 1.0 and isinstance(summary["sub_scores"], dict)
    assert (summary["scoring"], summary["judge_model"], summary["backend"]) == ("rules", None, "hf")
    generation = summary["generation"]
    assert (generation["temperature"], generation["max_new_tokens"]) == (0.0, 32)
    assert (generation["min_pixels"], generation["max_pixels"]) == (3136, 12544)
    assert summary["lmms_eval_version"] == "0.7.3" and summary["samples_per_second"] > 0

    rows = [json.loads(line) for line in (out / f"{benchmark}.samples.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and len({r["id"] for r in rows}) == 4
    for row in rows:
        assert {"id", "prediction", "extracted", "correct", "visual_entropy", "confidence"} <= set(row)
        assert isinstance(row["prediction"], str) and isinstance(row["correct"], bool)
        assert math.isfinite(row["visual_entropy"]) and row["visual_entropy"] >= 0
        assert row["confidence"] is None or (math.isfinite(row["confidence"]) and row["confidence"] <= 0)
    assert summary["accuracy"] == pytest.approx(sum(r["correct"] for r in rows) / 4)
    if benchmark == "wemath":
        assert "wemath" in summary["sub_scores"]
    if benchmark == "hallusionbench":
        assert {"aAcc", "qAcc", "fAcc"} <= set(summary["sub_scores"])
    assert not list(out.glob(".*.tmp"))


@pytest.mark.xfail(reason="the 0.60M-parameter smoke world is numerically fragile across machines: on some it answers some yes/no questions with a number; a world that perceives is issue 14's first step", strict=False)
def test_the_tiny_model_answers_hallusionbench_yes_no_questions(fixtures, smoke_world, tmp_path):
    """The world's task has a yes/no form, so HallusionBench's fixture is not a constant zero."""
    path = evaluate(smoke_world / "model", "hallusionbench", tmp_path, run="smoke",
                    data_files=fixtures["hallusionbench"], limit=None, **{**SMOKE, "max_new_tokens": 48})
    summary = json.loads(path.read_text())
    rows = [json.loads(line) for line in (tmp_path / "hallusionbench.samples.jsonl").read_text().splitlines()]
    # Not "more than half right": the 0.60M-parameter world answers yes/no with a fixed bias
    # (which one depends on the machine's numerics), so above-chance is the study world's job.
    assert summary["n"] == 24 and summary["accuracy"] > 0
    assert {r["extracted"] for r in rows} <= {"yes", "no"}


def test_visual_entropy_is_the_policys_own_encoder(fixtures, smoke_world, tmp_path):
    from durian.data.precompute import VisionTower

    model = smoke_world / "model"
    evaluate(model, "geometry3k", tmp_path, run="smoke", data_files=fixtures["geometry3k"], limit=2, **SMOKE)
    rows = [json.loads(line) for line in (tmp_path / "geometry3k.samples.jsonl").read_text().splitlines()]
    data = datasets.load_dataset("parquet", data_files={"x": str(fixtures["geometry3k"])})["x"]
    tower = VisionTower(str(smoke_world / "model"), device="cpu")
    expected = [tower.entropies([data[r["doc_id"]]["images"][0].convert("RGB")])[0] for r in rows]
    assert [r["visual_entropy"] for r in rows] == pytest.approx(expected)
    assert all(r["confidence"] is not None for r in rows)


def test_failing_evaluations_raise_and_write_nothing(fixtures, smoke_world, tmp_path):
    out, model = tmp_path / "results", smoke_world / "model"
    with pytest.raises(FileNotFoundError, match="do not exist"):
        evaluate(model, "mathvista", out, run="x", data_files=tmp_path / "missing.parquet", limit=2, **SMOKE)
    with pytest.raises(KeyError, match="query_cot"):  # Geometry3K rows are not MathVerse's schema
        evaluate(model, "mathverse", out, run="x", data_files=fixtures["geometry3k"], limit=2, **SMOKE)
    with pytest.raises(ValueError, match="JudgeConfig"):
        evaluate(model, "mathverse", out, run="x", scoring="judge", **SMOKE)
    assert not out.exists()


def test_vllm_backend_is_configuration_only():
    from lmms_eval.utils import simple_parse_args_string

    name, args = model_args("vllm", "/ckpt", device="cuda", min_pixels=262144, max_pixels=1000000, max_new_tokens=2048)
    parsed = simple_parse_args_string(args)
    assert name == "vllm" and parsed["model"] == "/ckpt" and parsed["max_new_tokens"] == 2048
    assert json.loads(parsed["mm_processor_kwargs"]) == {"min_pixels": 262144, "max_pixels": 1000000}
    with pytest.raises(ValueError, match="backend"):
        model_args("sglang", "/ckpt", device="cuda", min_pixels=1, max_pixels=2, max_new_tokens=3)

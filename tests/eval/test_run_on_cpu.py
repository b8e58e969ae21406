"""The lmms-eval tasks end to end on the tiny smoke model: fixtures in each benchmark's schema,
one task definition over several kinds of local source, real runs through the Python API, the
output contract, and failures that raise."""

import json
import math
import subprocess
import sys
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

# Types of the columns lmms-eval's own tasks decode or compute with, as the hub datasets store them:
# written out here, so a change of the adapters' FEATURES (which the fixtures are written with)
# cannot pass unnoticed.
_STR, _IMAGE, _STRS = datasets.Value("string"), datasets.Image(), datasets.List(datasets.Value("string"))
HUB_TYPES = {
    "mathvista": {"decoded_image": _IMAGE, "choices": _STRS, "precision": datasets.Value("float64"), "answer": _STR,
                  "question_type": _STR, "answer_type": _STR, "query": _STR},
    "mathverse": {"image": _IMAGE, "answer": _STR, "question_type": _STR, "problem_version": _STR, "query_cot": _STR},
    "mathvision": {"decoded_image": _IMAGE, "options": _STRS, "answer": _STR, "question": _STR},
    "wemath": {"image_path": _IMAGE, "option": _STR, "answer": _STR, "key": _STR, "ID": _STR},
    "hallusionbench": {"image": _IMAGE, "gt_answer": _STR, "question": _STR, "figure_id": _STR, "question_id": _STR},
    "geometry3k": {"images": datasets.List(_IMAGE), "problem": _STR, "answer": _STR},
}


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory) -> dict[str, Path]:
    return write_fixtures(tmp_path_factory.mktemp("fixtures"), seed=0, n=24)


@pytest.fixture(scope="module")
def world_model_name(smoke_world) -> str:
    """What results must call the smoke world's model: the tiny world, with its parameters counted by torch."""
    from transformers import Qwen2_5_VLForConditionalGeneration

    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(smoke_world / "model")
    return f"tiny world Qwen2.5-VL ({sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters)"


def test_fixtures_keep_each_benchmarks_schema(fixtures):
    assert set(fixtures) == set(BENCHMARKS)
    for name, path in fixtures.items():
        assert path.name == f"{task(name).split}.parquet"
        data = datasets.load_dataset("parquet", data_files={"x": str(path)})["x"]
        assert len(data) >= 24
        assert HUB_COLUMNS[name] <= set(data.column_names)
        assert data.features == task(name).adapter.features
        assert {column: data.features[column] for column in HUB_TYPES[name]} == HUB_TYPES[name]
        first = data[0]
        image = first["images"][0] if name == "geometry3k" else first[
            {"mathvista": "decoded_image", "mathvision": "decoded_image", "wemath": "image_path"}.get(name, "image")]
        assert isinstance(image, Image.Image)
    vista = datasets.load_dataset("parquet", data_files={"x": str(fixtures["mathvista"])})["x"]
    multi = [row for row in vista if row["question_type"] == "multi_choice"]
    assert multi and all(row["answer"] in row["choices"] for row in multi)  # MathVista stores option text


# The split each hub dataset's evaluation rows are in (the task yamls' test_split, lmms-eval's tasks').
HUB_SPLITS = {"mathverse": "testmini", "mathvision": "testmini", "mathvista": "testmini", "wemath": "testmini",
              "hallusionbench": "image", "geometry3k": "test"}


def test_python_m_eval_fixtures_writes_every_benchmark_in_its_schema(tmp_path):
    out = tmp_path / "fixtures"
    command = [sys.executable, "-m", "eval.fixtures", "--out", str(out), "--seed", "3", "-n", "5"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    printed = dict(line.split(": ", 1) for line in done.stdout.splitlines())
    assert printed == {name: str(out / name / f"{split}.parquet") for name, split in HUB_SPLITS.items()}
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == sorted(
        [f"{name}/{split}.parquet" for name, split in HUB_SPLITS.items()]
        + [f"truth/{name}.jsonl" for name in HUB_SPLITS])  # no temporary left
    for name, path in printed.items():
        data = datasets.load_dataset("parquet", data_files={"x": path})["x"]
        assert HUB_COLUMNS[name] <= set(data.column_names), name
        assert {column: data.features[column] for column in HUB_TYPES[name]} == HUB_TYPES[name], name
        if name == "hallusionbench":  # n questions on a figure, and (as the hub's rows) some with none
            visual = [row for row in data if row["visual_input"] != "0"]
            assert len(visual) == 5 and all(isinstance(row["image"], Image.Image) for row in visual)
            assert len(data) > 5 and all(row["image"] is None for row in data if row["visual_input"] == "0")
        else:
            assert len(data) == 5, name
    refused = subprocess.run([sys.executable, "-m", "eval.fixtures", "--out", str(tmp_path / "none"), "-n", "0"],
                             capture_output=True, text=True, timeout=120, check=False)
    assert refused.returncode == 2 and not (tmp_path / "none").exists()
    assert refused.stderr.splitlines()[-1] == "python -m eval.fixtures: error: -n/--n: a positive number of questions, got 0"
    assert "Traceback" not in refused.stderr


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
def test_tiny_model_run_writes_the_output_contract(benchmark, fixtures, smoke_world, world_model_name, tmp_path):
    out = tmp_path / "results"
    model = smoke_world / "model"
    path = evaluate(model, benchmark, out, run="smoke", data_files=fixtures[benchmark], limit=4, **SMOKE)
    summary = json.loads(path.read_text())
    assert path == out / f"{benchmark}.json"
    assert summary["model_name"] == world_model_name and summary["model"] == str(model)
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


QWEN25_VL_7B = {  # Qwen/Qwen2.5-VL-7B-Instruct's config.json (the architecture's fields)
    "architectures": ["Qwen2_5_VLForConditionalGeneration"], "model_type": "qwen2_5_vl", "hidden_size": 3584,
    "intermediate_size": 18944, "num_hidden_layers": 28, "num_attention_heads": 28, "num_key_value_heads": 4,
    "vocab_size": 152064, "max_position_embeddings": 128000, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
    "tie_word_embeddings": False, "torch_dtype": "bfloat16", "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]},
    "vision_config": {"depth": 32, "hidden_size": 1280, "intermediate_size": 3420, "num_heads": 16,
                      "out_hidden_size": 3584, "patch_size": 14, "spatial_merge_size": 2, "spatial_patch_size": 14,
                      "window_size": 112, "fullatt_block_indexes": [7, 15, 23, 31], "tokens_per_second": 2,
                      "temporal_patch_size": 2, "in_chans": 3, "hidden_act": "silu"},
}


def test_a_qwen2_5_vl_7b_checkpoint_is_named_as_such_wherever_it_lies(tmp_path):
    """A 7B checkpoint without its weights' data: its config, and safetensors shards holding only
    their headers (the tensors' shapes, from the architecture built on the meta device)."""
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    from eval.rows import model_name

    def checkpoint(folder: Path, weights: bool = True) -> str:
        folder.mkdir(parents=True)
        (folder / "config.json").write_text(json.dumps(QWEN25_VL_7B))
        if weights:
            with torch.device("meta"):
                model = Qwen2_5_VLForConditionalGeneration._from_config(Qwen2_5_VLConfig.from_pretrained(folder))
            shapes = {name: list(t.shape) for name, t in model.state_dict().items()}
            names = sorted(shapes)
            for k, part in enumerate((names[: len(names) // 2], names[len(names) // 2 :])):
                header, offset = {}, 0
                for name in part:
                    size = 2 * math.prod(shapes[name])
                    header[name] = {"dtype": "BF16", "shape": shapes[name], "data_offsets": [offset, offset + size]}
                    offset += size
                data = json.dumps(header).encode()
                (folder / f"model-0000{k + 1}-of-00002.safetensors").write_bytes(len(data).to_bytes(8, "little") + data)
            return f" ({sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters)"
        return ""

    size = checkpoint(tmp_path / "Qwen2.5-VL-7B-Instruct")
    assert size == " (8292.17M parameters)"  # 8,292,166,656: the hub model card's 8.29B
    assert model_name(str(tmp_path / "Qwen2.5-VL-7B-Instruct")) == f"Qwen2.5-VL-7B-Instruct{size}"
    snapshot = tmp_path / "hub" / "models--Qwen--Qwen2.5-VL-7B-Instruct" / "snapshots" / "cc594898137f460bfe9f0759e9844b3ce807cfb5"
    checkpoint(snapshot, weights=False)
    assert model_name(str(snapshot)) == "Qwen2.5-VL-7B-Instruct"  # the repository's name, not the revision
    assert model_name("Qwen/Qwen2.5-VL-7B-Instruct") == "Qwen2.5-VL-7B-Instruct"
    (tmp_path / "world" / "model").mkdir(parents=True)  # a folder called model with no world manifest beside it
    assert model_name(str(tmp_path / "world" / "model")) == "model"

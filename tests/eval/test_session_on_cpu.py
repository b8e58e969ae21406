"""A session evaluates many benchmarks with the model and vision tower loaded once, and gives the
same answers as one evaluation per benchmark; the CLI's benchmark and data-file options."""

import json
import re

import pytest

from eval import run
from eval.fixtures import write_fixtures
from eval.session import Session, Settings

SMOKE = {"max_new_tokens": 32, "min_pixels": 3136, "max_pixels": 12544, "limit": 2}


def test_a_session_loads_the_model_and_vision_tower_once(smoke_world, tmp_path, monkeypatch):
    from lmms_eval.models.simple.qwen2_5_vl import Qwen2_5_VL

    from durian.data.precompute import VisionTower

    loads = {"model": 0, "tower": 0}

    def counting(cls, key):
        original = cls.__init__

        def init(self, *args, **kwargs):
            loads[key] += 1
            original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "__init__", init)

    counting(Qwen2_5_VL, "model")
    counting(VisionTower, "tower")
    fixtures = write_fixtures(tmp_path / "fixtures", n=6)
    lines = []
    with Session(smoke_world / "model", run="session", settings=Settings(**SMOKE)) as session:
        paths = session.evaluate_many(["geometry3k", "mathvista"], tmp_path / "out", fixtures, progress=lines.append)
    assert loads == {"model": 1, "tower": 1}
    assert list(paths) == ["geometry3k", "mathvista"] and [line.split()[0] for line in lines] == list(paths)
    assert all("n=2" in line and "accuracy=" in line and line.endswith(" s") for line in lines)

    # the second benchmark, on the model the session kept, answers as a fresh evaluation does
    alone = run.evaluate(smoke_world / "model", "mathvista", tmp_path / "alone", run="session",
                         data_files=fixtures["mathvista"], **SMOKE)
    assert loads == {"model": 2, "tower": 2}
    rows = {name: [json.loads(line) for line in (path.parent / f"{path.stem}.samples.jsonl").read_text().splitlines()]
            for name, path in {"session": paths["mathvista"], "alone": alone}.items()}
    keep = ("id", "prediction", "correct", "response_tokens")
    assert [{k: r[k] for k in keep} for r in rows["session"]] == [{k: r[k] for k in keep} for r in rows["alone"]]
    assert [r["visual_entropy"] for r in rows["session"]] == pytest.approx([r["visual_entropy"] for r in rows["alone"]])
    drop = ("seconds", "eval_seconds", "samples_per_second")
    session_summary, alone_summary = ({k: v for k, v in json.loads(p.read_text()).items() if k not in drop}
                                      for p in (paths["mathvista"], alone))
    assert session_summary == alone_summary


@pytest.fixture
def calls(monkeypatch):
    seen = []
    monkeypatch.setattr(run, "evaluate_many", lambda *args, **kwargs: seen.append((args, kwargs)))
    return seen


BASE = ["--model", "M", "--run", "R", "--out", "O", "--device", "cpu"]


def test_cli_benchmarks_and_data_files(calls):
    run.main(BASE + ["--benchmarks", "mathvista,wemath", "--data-file", "wemath=/w.parquet", "--limit", "3",
                     "--max-new-tokens", "48", "--min-pixels", "3136", "--max-pixels", "12544"])
    run.main(BASE + ["--benchmark", "geometry3k", "--data-files", "/g.parquet"])
    run.main(BASE + ["--benchmarks", "all"])
    (first_args, first), (second_args, second), (_, every) = calls
    assert first_args == ("M", ["mathvista", "wemath"], "O")
    assert first["data_files"] == {"wemath": "/w.parquet"} and first["run"] == "R"
    assert (first["limit"], first["max_new_tokens"], first["min_pixels"], first["max_pixels"]) == (3, 48, 3136, 12544)
    assert (first["backend"], first["device"], first["scoring"], first["judge"]) == ("hf", "cpu", "rules", None)
    assert second_args[1] == ["geometry3k"] and second["data_files"] == {"geometry3k": "/g.parquet"}
    assert second["max_new_tokens"] is None  # the tasks' template decides
    assert every["data_files"] == {} and len(calls[2][0][1]) == 6


@pytest.mark.parametrize("extra", [
    ["--benchmarks", "mathvista,chartqa"],
    ["--benchmarks", "mathvista,mathvista"],
    ["--benchmarks", "mathvista", "--benchmark", "wemath"],
    ["--benchmarks", "mathvista", "--data-file", "mathvista"],
    ["--benchmarks", "mathvista", "--data-file", "wemath=/w.parquet"],
    ["--benchmarks", "mathvista", "--data-file", "mathvista=/a", "--data-file", "mathvista=/b"],
    ["--benchmarks", "mathvista,wemath", "--data-files", "/w.parquet"],
    ["--benchmark", "mathvista", "--scoring", "judge"],
    [],
])
def test_cli_rejects_unclear_requests(calls, extra):
    with pytest.raises(SystemExit) as error:
        run.main(BASE + extra)
    assert error.value.code == 2 and not calls


# ------------------------------------------------------------------------------------- splits
def mathvision_folder(root, splits=("testmini", "test")):
    """A hub-layout MathVision folder (``data/<split>-*.parquet``) whose splits are told apart by
    their ids and questions: testmini's ids are "1", "2", ..., test's "test-1", "test-2", ..., and
    each test question starts "(test row 1)", "(test row 2)", ..."""
    from eval.fixtures import fixture_dataset

    (root / "data").mkdir(parents=True)
    for split in splits:
        rows = fixture_dataset("mathvision", seed=0 if split == "testmini" else 1, n=4)
        if split != "testmini":
            rows = rows.map(lambda row, s=split: {"id": f"{s}-{row['id']}",
                                                  "question": f"({s} row {row['id']}) {row['question']}"})
        rows.to_parquet(str(root / "data" / f"{split}-00000-of-00001.parquet"))
    return root


def test_mathvision_runs_its_full_test_split_and_a_split_it_lacks_is_refused(smoke_world, tmp_path, monkeypatch,
                                                                              capsys):
    from lmms_eval.models.simple.qwen2_5_vl import Qwen2_5_VL

    asked = []  # the questions lmms-eval's model was asked: the rows evaluated, seen from outside
    generate = Qwen2_5_VL.generate_until
    monkeypatch.setattr(Qwen2_5_VL, "generate_until",
                        lambda self, requests: asked.extend(r.args[0] for r in requests) or generate(self, requests))
    folder, model = mathvision_folder(tmp_path / "mathvision"), smoke_world / "model"
    runs = {}
    for split in ("test", None):  # None: the task yaml's, testmini
        out, asked[:] = tmp_path / f"out-{split}", []
        summary = json.loads(run.evaluate(model, "mathvision", out, run="split", data_files=folder,
                                          splits={"mathvision": split} if split else {}, **SMOKE).read_text())
        header = json.loads((out / "mathvision.generations.jsonl").read_text().splitlines()[0])
        ids = [json.loads(line)["id"] for line in (out / "mathvision.samples.jsonl").read_text().splitlines()]
        rows = sorted(re.findall(r"\(test row (\d+)\)", question) for question in asked)
        runs[split] = (summary["split"], header["split"], summary["n"], ids, rows)
    assert runs == {"test": ("test", "test", 2, ["test-1", "test-2"], [["1"], ["2"]]),
                    None: ("testmini", "testmini", 2, ["1", "2"], [[], []])}

    # refused in one line before any model loads: a split MathVision does not have, one that
    # another benchmark does not offer, and one this data does not hold
    monkeypatch.setattr(Session, "lm", lambda self: pytest.fail("the model was loaded"))
    for benchmark, split in (("mathvision", "train"), ("mathverse", "test")):
        with pytest.raises(ValueError) as error:
            Settings(splits={benchmark: split})
        assert str(error.value).startswith(f"{benchmark}: split one of ") and f"got {split!r}" in str(error.value)
        assert len(str(error.value).splitlines()) == 1
        with pytest.raises(SystemExit) as exit_:
            run.main(BASE + ["--benchmarks", benchmark, "--split", f"{benchmark}={split}"])
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and err.splitlines()[-1].endswith(str(error.value))
    only_testmini = mathvision_folder(tmp_path / "testmini-only", splits=("testmini",))
    with pytest.raises(ValueError) as error:
        run.evaluate(model, "mathvision", tmp_path / "none", run="split", data_files=only_testmini,
                     splits={"mathvision": "test"}, **SMOKE)
    assert str(error.value) == f"mathvision: {only_testmini.resolve()} has no split 'test'"
    assert not (tmp_path / "none").exists()


def test_batched_generation_gives_the_answers_of_one_question_at_a_time(smoke_world, tmp_path, monkeypatch):
    """``batch_size`` > 1: lmms-eval's model generates several questions per call (left-padded), and
    every prediction, correctness and confidence is the one-at-a-time run's."""
    from lmms_eval.models.simple.qwen2_5_vl import Qwen2_5_VL

    calls = []
    original = Qwen2_5_VL.generate_until
    monkeypatch.setattr(Qwen2_5_VL, "generate_until", lambda self, requests, *a, **k: calls.append(
        (self.batch_size, len(requests))) or original(self, requests, *a, **k))
    fixtures = write_fixtures(tmp_path / "fixtures", n=12)
    rows = {}
    for batch_size in (1, 6):
        settings = Settings(**{**SMOKE, "limit": 12, "batch_size": batch_size})
        with Session(smoke_world / "model", run=f"b{batch_size}", settings=settings) as session:
            path = session.evaluate("mathvista", tmp_path / f"b{batch_size}", fixtures["mathvista"])
        summary = json.loads(path.read_text())
        assert summary["generation"]["batch_size"] == batch_size
        rows[batch_size] = [json.loads(line) for line in path.with_suffix(".samples.jsonl").read_text().splitlines()]
    assert [size for size, _ in calls] == [1, 6]
    assert len(rows[1]) == len(rows[6]) == 12
    for one, batched in zip(rows[1], rows[6]):
        assert (batched["doc_id"], batched["prediction"], batched["correct"]) == (one["doc_id"], one["prediction"],
                                                                                   one["correct"])
        if one["confidence"] is not None:
            assert abs(batched["confidence"] - one["confidence"]) < 1e-4


def test_a_batch_size_below_one_is_refused():
    with pytest.raises(ValueError, match="batch_size: a positive number of questions, got 0"):
        Settings(batch_size=0)

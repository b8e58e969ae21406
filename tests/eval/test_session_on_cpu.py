"""A session evaluates many benchmarks with the model and vision tower loaded once, and gives the
same answers as one evaluation per benchmark; the CLI's benchmark and data-file options."""

import json

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

"""Bad evaluation rows made real in fixture parquets (an image missing, an image that does not
decode, an answer missing): one short error naming benchmark, row and document id, before any
generation; ``--skip-bad-rows`` leaves them out with a sidecar record and says so in the result.
Also ``--limit`` below 1 rejected in one line."""

import json
import os
import subprocess
import sys
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from eval import run
from eval.fixtures import write_fixtures
from eval.rows import BadRowError
from eval.session import Session

ROOT = Path(__file__).resolve().parents[2]
SMOKE = {"max_new_tokens": 16, "min_pixels": 3136, "max_pixels": 12544}


def broken_mathvista(tmp_path) -> Path:
    """The MathVista fixture with row 1's image missing, row 3's image undecodable, row 4's answer missing."""
    path = write_fixtures(tmp_path / "fixtures", n=6)["mathvista"]
    table = pq.read_table(path)
    images = table.column("decoded_image").to_pylist()
    images[1] = None
    images[3] = {"bytes": b"this is not an image", "path": None}
    answers = table.column("answer").to_pylist()
    answers[4] = None
    table = table.set_column(table.schema.get_field_index("decoded_image"), table.schema.field("decoded_image"),
                             pa.array(images, type=table.schema.field("decoded_image").type))
    table = table.set_column(table.schema.get_field_index("answer"), "answer", pa.array(answers, pa.string()))
    broken = tmp_path / "broken" / "testmini.parquet"
    broken.parent.mkdir()
    pq.write_table(table, broken)
    assert datasets.load_dataset("parquet", data_files={"x": str(broken)})["x"].features["decoded_image"]
    return broken


@pytest.fixture
def no_generation(monkeypatch):
    """Fails the test if the model is ever loaded."""
    def refuse(self):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(Session, "lm", refuse)


def test_a_bad_row_fails_before_generation_naming_row_and_id(tmp_path, no_generation):
    data = broken_mathvista(tmp_path)
    with pytest.raises(BadRowError) as error:
        run.evaluate("unused-model", "mathvista", tmp_path / "out", run="x", data_files=data, **SMOKE)
    message = str(error.value)
    assert message.startswith("mathvista: row 1 (id '2'): image missing") and "3 bad rows in all" in message
    assert "--skip-bad-rows" in message and len(message.splitlines()) == 1
    assert not (tmp_path / "out").exists()
    # each kind of bad row, after a good one, is named as such
    table = pq.read_table(data)
    for row, kind, doc_id in ((3, "image undecodable", "4"), (4, "answer missing", "5")):
        alone = tmp_path / f"row{row}.parquet"
        pq.write_table(table.take([0, row]), alone)
        with pytest.raises(BadRowError, match=rf"^mathvista: row 1 \(id '{doc_id}'\): {kind}"):
            run.evaluate("unused-model", "mathvista", tmp_path / "out", run="x", data_files=alone, **SMOKE)


def test_a_bad_row_beyond_the_limit_is_not_checked(tmp_path, no_generation, monkeypatch):
    data = broken_mathvista(tmp_path)
    generated = []
    monkeypatch.setattr(Session, "_generate", lambda self, *a: generated.append(a) or (_ for _ in ()).throw(
        RuntimeError("generation reached")))
    with pytest.raises(RuntimeError, match="generation reached"):  # row 0 alone is fine
        run.evaluate("unused-model", "mathvista", tmp_path / "out", run="x", data_files=data, limit=1, **SMOKE)
    assert len(generated) == 1


def test_the_cli_names_the_bad_row_in_one_line(tmp_path):
    data = broken_mathvista(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "eval.run", "--model", "unused", "--run", "x", "--out",
                           str(tmp_path / "out"), "--benchmarks", "mathvista", "--data-file", f"mathvista={data}",
                           "--device", "cpu"], check=False, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("eval.run: mathvista: row 1 (id '2'): image missing"), done.stderr
    assert "Traceback" not in done.stderr, done.stderr


def test_skip_bad_rows_leaves_them_out_and_records_them(tmp_path, smoke_world):
    data = broken_mathvista(tmp_path)
    out = tmp_path / "out"
    summary = json.loads(run.evaluate(smoke_world / "model", "mathvista", out, run="x", data_files=data,
                                      skip_bad_rows=True, **SMOKE).read_text())
    assert (summary["n"], summary["skipped"]) == (3, 3)
    rows = [json.loads(line) for line in (out / "mathvista.samples.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["1", "3", "6"]
    record = json.loads((out / "mathvista.bad_rows.json").read_text())
    assert record["skipped"] == 3 and record["benchmark"] == "mathvista"
    assert [(r["index"], r["id"], r["error"].split(" (")[0]) for r in record["rows"]] == [
        (1, "2", "image missing"), (3, "4", "image undecodable"), (4, "5", "answer missing or malformed")]


@pytest.mark.parametrize("limit", ["0", "-1"])
def test_limit_below_one_is_rejected_in_one_line(limit, capsys, monkeypatch):
    monkeypatch.setattr(run, "evaluate_many", lambda *a, **k: pytest.fail("evaluated"))
    with pytest.raises(SystemExit) as error:
        run.main(["--model", "M", "--run", "R", "--out", "O", "--device", "cpu", "--benchmarks", "mathvista",
                  "--limit", limit])
    err = capsys.readouterr().err.strip()
    assert error.value.code == 2 and len(err.splitlines()) == 1
    assert err == f"eval.run: --limit: a positive number of questions (leave it out for all), got {limit}"
    with pytest.raises(ValueError, match="limit: a positive number"):
        run.evaluate("M", "mathvista", "O", run="R", limit=int(limit))

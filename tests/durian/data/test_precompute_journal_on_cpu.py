"""The precompute's journal is refused when another encoder (or input) wrote it, and resumed when
the same one did; no model is loaded (the header is checked before any row is computed)."""

import hashlib
import io
import json
from types import SimpleNamespace

import pytest
from PIL import Image

from durian.data import prepare
from durian.data.precompute import precompute_entropy


@pytest.fixture
def source(tmp_path):
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "blue").save(buffer, format="PNG")
    row = prepare.make_row(question="q", images=[buffer.getvalue()], answer="1", data_source="s", split="val", index=0)
    return prepare.write_rows([row], tmp_path / "val.parquet")


def journal_of(source, out, encoder: str):
    journal = out.with_name(out.name + ".partial.jsonl")
    header = {"input_sha256": hashlib.sha256(source.read_bytes()).hexdigest(), "encoder": encoder}
    journal.write_text(json.dumps({"header": header}) + "\n")
    return journal


def test_a_journal_from_another_encoder_is_refused(source, tmp_path):
    out = tmp_path / "out.parquet"
    journal = journal_of(source, out, "qwen2.5-vl-merger")
    before = journal.read_text()
    with pytest.raises(ValueError, match="belongs to another input or encoder.*remove it to start over"):
        precompute_entropy(source, out, SimpleNamespace(name="siglip-other"), progress=False)
    assert journal.read_text() == before and not out.exists()  # left as it was


def test_a_journal_of_the_same_encoder_and_input_is_taken_up(source, tmp_path):
    out = tmp_path / "out.parquet"
    journal = journal_of(source, out, "qwen2.5-vl-merger")
    returned = precompute_entropy(source, out, SimpleNamespace(name="qwen2.5-vl-merger"), progress=False,
                                  stop_after_batches=0)
    assert returned == journal and journal.read_text().count('"header"') == 1  # no second header

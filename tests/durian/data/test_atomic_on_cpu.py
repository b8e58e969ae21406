"""durian.data.prepare.write_rows when the write fails: the previous file is intact, no temporary is left."""

import io
import os

import pyarrow.parquet as pq
import pytest
from PIL import Image

from durian.data import prepare as data


def row(index: int) -> dict:
    buffer = io.BytesIO()
    Image.new("RGB", (2, 2), "red").save(buffer, format="PNG")
    return data.make_row(question=f"q{index}", images=[buffer.getvalue()], answer="1", data_source="s",
                         split="train", index=index)


def fail_rename(*args, **kwargs):
    raise OSError("disk full (made to fail)")


def fail_mid_write(table, where, *args, **kwargs):
    with open(where, "wb") as handle:
        handle.write(b"PAR1 half a file")
    raise OSError("disk full (made to fail)")


@pytest.mark.parametrize("fault", ["rename", "mid-write"])
def test_a_failed_write_keeps_the_previous_rows_and_leaves_no_temporary(fault, tmp_path, monkeypatch):
    path = data.write_rows([row(0)], tmp_path / "train.parquet")
    before = path.read_bytes()
    if fault == "rename":
        monkeypatch.setattr(os, "replace", fail_rename)
    else:
        monkeypatch.setattr(pq, "write_table", fail_mid_write)
    with pytest.raises(OSError, match="made to fail"):
        data.write_rows([row(0), row(1)], path, overwrite=True)
    assert path.read_bytes() == before and len(data.read_rows(path)) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["train.parquet"]


def test_a_failed_first_write_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "replace", fail_rename)
    with pytest.raises(OSError, match="made to fail"):
        data.write_rows([row(0)], tmp_path / "train.parquet")
    assert list(tmp_path.iterdir()) == []

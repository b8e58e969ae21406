"""The reports' writers when the write fails (tables, figures, the HTML report's writer): the
previous file is intact and no temporary is left."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from matplotlib.figure import Figure

from reports import figures, table
from reports.table import Table, write_atomic


def fail_rename(*args, **kwargs):
    raise OSError("disk full (made to fail)")


@pytest.mark.parametrize("fault", ["rename", "mid-write"])
def test_write_atomic_keeps_the_previous_file(fault, tmp_path, monkeypatch):
    path = tmp_path / "report.html"
    write_atomic(path, "old")
    if fault == "rename":
        monkeypatch.setattr(os, "replace", fail_rename)
    else:
        real = Path.write_text

        def half_then_fail(self, text, *args, **kwargs):
            real(self, text[: len(text) // 2], *args, **kwargs)
            raise OSError("disk full (made to fail)")

        monkeypatch.setattr(Path, "write_text", half_then_fail)
    with pytest.raises(OSError, match="made to fail"):
        write_atomic(path, "new text, longer than the old")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_a_table_whose_second_file_fails_keeps_the_previous_one_and_no_temporary(tmp_path, monkeypatch):
    old = Table(name="t1", title="T", caption="c", frame=pd.DataFrame({"a": [1]}))
    old.write(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    real = os.replace
    calls = []

    def second_fails(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError("disk full (made to fail)")
        real(src, dst)

    monkeypatch.setattr(os, "replace", second_fails)
    new = Table(name="t1", title="T", caption="c", frame=pd.DataFrame({"a": [2]}))
    with pytest.raises(OSError, match="made to fail"):
        new.write(tmp_path)
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert sorted(after) == sorted(before) == ["t1.csv", "t1.md", "t1.tex"]
    assert after["t1.md"] == before["t1.md"]  # the one that failed: still the previous table
    assert after["t1.csv"] != before["t1.csv"]  # the one before it was replaced whole


def small_figure(value: float) -> Figure:
    fig, ax = plt.subplots(figsize=(1, 1))
    ax.bar([0], [value])
    return fig


@pytest.mark.parametrize("fault", ["rename", "mid-write"])
def test_a_failed_figure_save_keeps_the_previous_figure(fault, tmp_path, monkeypatch):
    paths = figures.save(small_figure(1), tmp_path, "fig")
    before = {p.name: p.read_bytes() for p in paths}
    fig = small_figure(2)
    if fault == "rename":
        monkeypatch.setattr(os, "replace", fail_rename)
    else:
        def half_then_fail(where, *args, **kwargs):
            Path(where).write_bytes(b"\x89PNG half a figure")
            raise OSError("disk full (made to fail)")

        monkeypatch.setattr(fig, "savefig", half_then_fail)
    with pytest.raises(OSError, match="made to fail"):
        figures.save(fig, tmp_path, "fig")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert not plt.fignum_exists(fig.number)  # closed even on failure


def test_the_report_page_goes_through_write_atomic():
    from reports import html

    assert html.write_atomic is table.write_atomic

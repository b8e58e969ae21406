"""eval.session.write_results when a write fails: the previous result is intact and no temporary is left."""

import json
import os

import pytest

from eval import session


def fail_rename(*args, **kwargs):
    raise OSError("disk full (made to fail)")


def write(out, accuracy):
    rows = [{"id": "q1", "prediction": "1", "correct": accuracy == 1.0}]
    return session.write_results(out, "geometry3k", rows, {"benchmark": "geometry3k", "accuracy": accuracy})


def test_a_failed_first_rename_keeps_both_previous_files(tmp_path, monkeypatch):
    write(tmp_path, 1.0)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    monkeypatch.setattr(os, "replace", fail_rename)
    with pytest.raises(OSError, match="made to fail"):
        write(tmp_path, 0.0)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_a_failed_summary_write_keeps_the_previous_summary_and_no_temporary(tmp_path, monkeypatch):
    write(tmp_path, 1.0)
    real = os.replace

    def summary_fails(src, dst):
        if str(dst).endswith("geometry3k.json"):
            raise OSError("disk full (made to fail)")
        real(src, dst)

    monkeypatch.setattr(os, "replace", summary_fails)
    with pytest.raises(OSError, match="made to fail"):
        write(tmp_path, 0.0)
    assert json.loads((tmp_path / "geometry3k.json").read_text())["accuracy"] == 1.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["geometry3k.json", "geometry3k.samples.jsonl"]


def test_a_failed_content_write_leaves_no_temporary(tmp_path, monkeypatch):
    write(tmp_path, 1.0)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    real = os.fdopen

    class HalfThenFail:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, text):
            self.handle.write(text[: len(text) // 2])
            raise OSError("disk full (made to fail)")

    monkeypatch.setattr(os, "fdopen", lambda fd, *args, **kwargs: HalfThenFail(real(fd, *args, **kwargs)))
    with pytest.raises(OSError, match="made to fail"):
        write(tmp_path, 0.0)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before

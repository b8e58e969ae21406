"""The world build's faults: an interrupted build is discarded and redone, a world of another config is
refused and left as it is. A tiny config (a few warm-start steps) keeps the real build to seconds."""

import json

import pytest

from durian.world import build
from durian.world.task import WorldConfig

TINY = WorldConfig(train_size=4, val_size=4, test_size=4, sft_size=32, vision_pretrain_steps=2, sft_steps=2, sft_batch_size=4)


def test_an_interrupted_build_is_discarded_and_redone(tmp_path):
    out = tmp_path / "world"
    (out / "model").mkdir(parents=True)
    (out / "model" / "model.safetensors").write_bytes(b"half a model")  # killed before the manifest
    (out / "data").mkdir()
    (out / "data" / "train.parquet").write_bytes(b"half a table")
    build.build_world(out, TINY, log=lambda *_: None)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["key"] == TINY.key() and manifest["config"]["sft_steps"] == 2
    assert (out / "model" / "model.safetensors").read_bytes() != b"half a model"
    assert sorted(p.name for p in (out / "data").iterdir()) == ["test.parquet", "train.parquet", "val.parquet"]
    assert not (tmp_path / "world.building").exists()
    lines = []
    build.build_world(out, TINY, log=lines.append)  # finished: kept
    assert lines == [f"smoke world {TINY.key()} already built in {out}"]


def test_an_interrupted_build_is_discarded_before_anything_is_built(tmp_path, monkeypatch):
    out = tmp_path / "world"
    out.mkdir()
    (out / "junk").write_text("from a killed build")

    class Stop(Exception):
        pass

    def stop(*args, **kwargs):
        assert not out.exists(), "the interrupted build's files were still there"
        raise Stop

    monkeypatch.setattr(build, "build_model", stop)
    with pytest.raises(Stop):
        build.build_world(out, TINY, log=lambda *_: None)


def test_a_world_of_another_config_is_refused_and_left_as_it_is(tmp_path):
    out = tmp_path / "world"
    out.mkdir()
    manifest = {"key": "0123456789abcdef", "config": {"seed": 7}}
    (out / "manifest.json").write_text(json.dumps(manifest))
    (out / "model").mkdir()
    with pytest.raises(FileExistsError, match=f"{out} holds a smoke world with another config"):
        build.build_world(out, TINY, log=lambda *_: None)
    assert json.loads((out / "manifest.json").read_text()) == manifest and (out / "model").is_dir()


def test_a_second_builder_waits_for_the_first_and_reuses_its_world(tmp_path):
    """Two builds of one folder at once (two workflows, two test workers): the second waits on the
    first's lock, then finds the world built, instead of writing the same staging folder."""
    import fcntl
    import subprocess
    import sys

    out = tmp_path / "world"
    code = ("import sys; from durian.world import build; from durian.world.task import WorldConfig; "
            f"build.build_world(sys.argv[1], WorldConfig(**{TINY.__dict__!r}), "
            "log=lambda m: print(m, flush=True))")
    with open(tmp_path / "world.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the first builder, this test
        second = subprocess.Popen([sys.executable, "-c", code, str(out)], stdout=subprocess.PIPE, text=True)
        assert second.stdout.readline().strip() == f"waiting for the build of {out} by another process"
        build._build_locked(out, TINY, log=lambda *_: None)
    output, _ = second.communicate(timeout=120)
    assert second.returncode == 0
    assert output.strip() == f"smoke world {TINY.key()} already built in {out}"

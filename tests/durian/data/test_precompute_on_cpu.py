import json

import numpy as np
import pytest
import torch

from durian.data import precompute
from durian.data.precompute import VisionTower, decode_image, entropy_summary, precompute_entropy
from durian.data.prepare import read_rows, write_rows
from durian.difficulty import visual_entropy


@pytest.fixture(scope="module")
def tower(smoke_world):
    return VisionTower(str(smoke_world / "model"))


class CountingTower:
    """Wraps the real tower and records which images it was asked for."""

    def __init__(self, tower):
        self.tower, self.name, self.calls = tower, tower.name, 0
        self.images = 0

    def entropies(self, images):
        self.calls += 1
        self.images += len(images)
        return self.tower.entropies(images)


def test_entropy_is_that_of_the_features_the_decoder_sees(smoke_world, tower):
    from transformers import Qwen2_5_VLForConditionalGeneration

    rows = read_rows(smoke_world / "data" / "val.parquet")[:3]
    images = [decode_image(r["images"][0]) for r in rows]
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(smoke_world / "model").eval()
    inputs = tower.image_processor(images=images, return_tensors="pt")
    with torch.no_grad():
        features = model.model.get_image_features(inputs["pixel_values"], inputs["image_grid_thw"]).pooler_output
    expected = [visual_entropy(f) for f in features]
    assert tower.entropies(images) == pytest.approx(expected, abs=1e-6)
    assert len(set(np.round(expected, 6))) == 3  # different images, different entropies


def test_precompute_resumes_after_an_interruption_without_recomputing(smoke_world, tower, tmp_path):
    source = smoke_world / "data" / "val.parquet"
    out = tmp_path / "val.parquet"
    first = CountingTower(tower)
    journal = precompute_entropy(source, out, first, batch_size=8, stop_after_batches=3, progress=False)
    assert not out.exists() and first.images == 24
    with journal.open("a") as f:
        f.write('{"row": 99, "visual_ent')  # a record cut by the kill
    second = CountingTower(tower)
    assert precompute_entropy(source, out, second, batch_size=8, progress=False) == out
    rows = read_rows(out)
    assert second.images == len(rows) - 24
    assert [r["extra_info"]["index"] for r in rows] == list(range(len(rows)))
    assert not journal.exists()

    fresh = tmp_path / "fresh.parquet"
    precompute_entropy(source, fresh, tower, batch_size=16, progress=False)
    resumed = [r["extra_info"]["visual_entropy"] for r in rows]
    assert resumed == pytest.approx([r["extra_info"]["visual_entropy"] for r in read_rows(fresh)], abs=1e-9)
    assert all(r["extra_info"]["entropy_encoder"] == tower.name for r in rows)


def test_a_journal_from_another_input_is_refused(smoke_world, tower, tmp_path):
    out = tmp_path / "x.parquet"
    precompute_entropy(smoke_world / "data" / "val.parquet", out, tower, batch_size=8, stop_after_batches=1, progress=False)
    with pytest.raises(ValueError, match="belongs to another input or encoder"):
        precompute_entropy(smoke_world / "data" / "test.parquet", out, tower, progress=False)
    with pytest.raises(FileExistsError):
        precompute_entropy(smoke_world / "data" / "val.parquet", smoke_world / "data" / "val.parquet", tower)


def bad_input(smoke_world, tmp_path):
    rows = read_rows(smoke_world / "data" / "val.parquet")[:10]
    rows[2]["images"] = [{"bytes": b"not an image at all"}]
    rows[6]["images"] = [{"bytes": rows[6]["images"][0]["bytes"][:40]}]  # truncated PNG
    return write_rows(rows, tmp_path / "bad.parquet")


def test_a_bad_image_fails_the_run_naming_its_row(smoke_world, tower, tmp_path):
    with pytest.raises(ValueError, match=r"row 2 \(extra_info.index 2\).*rerun with --skip-bad-rows"):
        precompute_entropy(bad_input(smoke_world, tmp_path), tmp_path / "out.parquet", tower, progress=False)
    assert not (tmp_path / "out.parquet").exists()


def test_bad_rows_can_be_skipped_and_are_listed(smoke_world, tower, tmp_path):
    out = precompute_entropy(bad_input(smoke_world, tmp_path), tmp_path / "out.parquet", tower, skip_bad_rows=True, progress=False)
    kept = [r["extra_info"]["index"] for r in read_rows(out)]
    assert kept == [0, 1, 3, 4, 5, 7, 8, 9]
    listed = json.loads((tmp_path / "out.bad_rows.json").read_text())
    assert [r["row"] for r in listed] == [2, 6] and all(r["error"] for r in listed)


def test_figure_4_summary(smoke_world, tower, tmp_path):
    out = precompute_entropy(smoke_world / "data" / "test.parquet", tmp_path / "t.parquet", tower, progress=False)
    summary = entropy_summary(out)
    values = np.array([r["extra_info"]["visual_entropy"] for r in read_rows(out)])
    assert summary["n"] == len(values) and summary["encoder"] == tower.name
    assert summary["q25"] == pytest.approx(np.quantile(values, 0.25))
    assert summary["q75"] == pytest.approx(np.quantile(values, 0.75))
    assert summary["q25"] < summary["q75"]  # the smoke task spreads in visual entropy
    assert sum(summary["histogram"]["counts"]) == len(values)


def test_cli_writes_the_rows_and_the_summary_where_asked(smoke_world, tmp_path, capsys):
    output, summary = tmp_path / "rows" / "val.parquet", tmp_path / "summaries" / "val.json"
    precompute.main(["--model", str(smoke_world / "model"), "--input", str(smoke_world / "data" / "val.parquet"),
                     "--output", str(output), "--summary", str(summary), "--features", "merger", "--batch-size", "32"])
    assert capsys.readouterr().out.strip().endswith(f"wrote {output}")
    rows = read_rows(output)
    assert len(rows) == len(read_rows(smoke_world / "data" / "val.parquet"))
    assert json.loads(summary.read_text())["n"] == len(rows)


def test_the_entropy_is_computed_on_the_image_verls_dataset_feeds_the_policy(smoke_world, tower, tmp_path):
    """Issue 12 item 3: the precompute's image is, pixel for pixel, the one verl's RLHFDataset hands the
    processor, with the rows' min_pixels / max_pixels bounds (here one upscaled, one downscaled, one as is)."""
    from omegaconf import OmegaConf
    from transformers import AutoProcessor
    from verl.utils.dataset.rl_dataset import RLHFDataset

    rows = read_rows(smoke_world / "data" / "val.parquet")[:3]
    bounds = [{"min_pixels": 300 * 300}, {"max_pixels": 56 * 56}, {}]
    rows = [{**row, "images": [{**row["images"][0], **bound}]} for row, bound in zip(rows, bounds)]
    source = write_rows(rows, tmp_path / "bounded.parquet")
    processor = AutoProcessor.from_pretrained(smoke_world / "model")
    config = OmegaConf.create({"filter_overlong_prompts": False, "cache_dir": str(tmp_path / "cache")})
    dataset = RLHFDataset(str(source), processor.tokenizer, config, processor)
    sizes = []
    for i, row in enumerate(read_rows(source)):
        messages = dataset[i]["raw_prompt"]
        images, _, _ = RLHFDataset._process_multi_modal_info(messages, dataset.image_patch_size, dataset.config)
        ours = precompute.policy_image(row["images"][0], tower.patch_size)
        assert ours.size == images[0].size and np.array_equal(np.asarray(ours), np.asarray(images[0]))
        sizes.append(ours.size)
    assert sizes[0][0] * sizes[0][1] >= 300 * 300 and sizes[1][0] * sizes[1][1] <= 56 * 56 and sizes[2] == (112, 112)

    out = precompute_entropy(source, tmp_path / "out.parquet", tower, progress=False)
    expected = tower.entropies([precompute.policy_image(r["images"][0], tower.patch_size) for r in rows])
    assert [r["extra_info"]["visual_entropy"] for r in read_rows(out)] == pytest.approx(expected, abs=1e-6)

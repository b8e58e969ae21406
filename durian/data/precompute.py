"""Visual-entropy precompute: every row gets ``extra_info.visual_entropy`` from the policy's own
vision tower (docs/method.md §2), plus ``extra_info.entropy_encoder`` naming what produced it.

Resumable: finished batches are appended to ``<output>.partial.jsonl`` (flushed and synced), so
a killed run restarts where it stopped, computing no row twice and losing none. An image that
cannot be decoded or is empty fails the run naming its row, unless ``skip_bad_rows`` is set:
then the row is left out of the output and listed in ``<output stem>.bad_rows.json``.
A row with several images gets the mean of their entropies (choice; Geometry3K has one each).

The entropy is that of the image the policy sees (:func:`policy_image`): verl's own image step on
the row's image dict, whose ``min_pixels`` / ``max_pixels`` (``durian.data.prepare``) bound it.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image

from durian.data.prepare import read_rows, write_rows
from durian.difficulty import visual_entropies

Features = Literal["merger", "last_block"]
VERL_PATCH_SIZE = 14  # verl's RLHFDataset default when the processor names none


class VisionTower:
    """The vision encoder of a Qwen2.5-VL checkpoint, on GPU when one is present."""

    def __init__(self, model: str, features: Features = "merger", device: str | None = None):
        from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

        if features not in ("merger", "last_block"):
            raise ValueError(f"features: must be 'merger' or 'last_block', got {features!r}")
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        dtype = torch.bfloat16 if self.device.type == "cuda" else torch.float32
        full = Qwen2_5_VLForConditionalGeneration.from_pretrained(model, dtype=dtype)
        self.visual = full.model.visual.to(self.device).eval()
        del full
        self.image_processor = AutoProcessor.from_pretrained(model).image_processor
        # verl's RLHFDataset resizes with the processor's patch size (rl_dataset.py, image_patch_size)
        self.patch_size = getattr(self.image_processor, "patch_size", VERL_PATCH_SIZE)
        self.features = features
        self.name = f"{model}:{features}"

    @torch.no_grad()
    def entropies(self, images: list[Image.Image]) -> list[float]:
        inputs = self.image_processor(images=images, return_tensors="pt")
        grid = inputs["image_grid_thw"].to(self.device)
        pixels = inputs["pixel_values"].to(self.device, self.visual.dtype)
        out = self.visual(pixels, grid_thw=grid)
        if self.features == "merger":
            states, sizes = out.pooler_output, grid.prod(-1) // self.visual.spatial_merge_size**2
        else:  # patches in window order; the entropy does not depend on patch order
            states, sizes = out.last_hidden_state, grid.prod(-1)
        return visual_entropies(torch.split(states, sizes.tolist())).tolist()


def decode_image(item: dict | bytes) -> Image.Image:
    raw = item.get("bytes") if isinstance(item, dict) else item
    if not raw:
        raise ValueError("image has no bytes")
    image = Image.open(io.BytesIO(raw))
    image.load()
    if image.width == 0 or image.height == 0:
        raise ValueError(f"image is empty ({image.width} x {image.height})")
    return image.convert("RGB")


def policy_image(item: dict | bytes, patch_size: int = VERL_PATCH_SIZE) -> Image.Image:
    """A row's image as the policy gets it: verl's ``process_image`` (``qwen_vl_utils.fetch_image``
    on the image dict, its ``min_pixels`` / ``max_pixels`` included), as verl's RLHFDataset feeds it
    to the processor, in rollouts and in the overlong-prompt filter alike."""
    from verl.utils.dataset.vision_utils import process_image

    decode_image(item)  # an empty or undecodable image fails here, with a plain message
    item = dict(item) if isinstance(item, dict) else {"bytes": item}
    return process_image(item, image_patch_size=patch_size)


def precompute_entropy(
    input_path: str | Path,
    output_path: str | Path,
    tower: VisionTower,
    *,
    batch_size: int = 16,
    skip_bad_rows: bool = False,
    progress: bool = True,
    stop_after_batches: int | None = None,
) -> Path:
    """Write ``output_path``: the rows of ``input_path`` with their visual entropy.

    ``stop_after_batches`` ends the run early on purpose (as a kill would), for tests.
    """
    from tqdm import tqdm

    input_path, output_path = Path(input_path), Path(output_path)
    if output_path.exists():
        raise FileExistsError(f"{output_path} exists; remove it to recompute")
    rows = read_rows(input_path)
    journal = output_path.with_name(output_path.name + ".partial.jsonl")
    header = {"input_sha256": _sha256(input_path), "encoder": tower.name}
    done = _read_journal(journal, header)

    todo = [i for i in range(len(rows)) if i not in done]
    bar = tqdm(total=len(rows), initial=len(done), desc=f"visual entropy {input_path.name}", disable=not progress)
    with journal.open("a") as log:
        if not done and journal.stat().st_size == 0:
            _append(log, {"header": header})
        for batch_number, start in enumerate(range(0, len(todo), batch_size)):
            if stop_after_batches is not None and batch_number >= stop_after_batches:
                bar.close()
                return journal
            records = _entropy_batch(rows, todo[start : start + batch_size], tower, skip_bad_rows)
            for record in records:
                _append(log, record)
                done[record["row"]] = record
            bar.update(len(records))
    bar.close()

    bad = [done[i] for i in sorted(done) if "error" in done[i]]
    out_rows = []
    for i, row in enumerate(rows):
        if "error" in done[i]:
            continue
        extra = dict(row["extra_info"], visual_entropy=done[i]["visual_entropy"], entropy_encoder=tower.name)
        out_rows.append({**row, "extra_info": extra})
    if bad:
        bad_file = output_path.with_name(output_path.stem + ".bad_rows.json")
        bad_file.write_text(json.dumps(bad, indent=2))
        print(f"left out {len(bad)} bad rows, listed in {bad_file}")
    write_rows(out_rows, output_path)
    journal.unlink()
    return output_path


def _entropy_batch(rows: list[dict], indices: list[int], tower: VisionTower, skip_bad: bool) -> list[dict]:
    images, owners, records = [], [], {}
    for i in indices:
        try:
            items = rows[i].get("images")
            if items is None or len(items) == 0:
                raise ValueError("row has no image")
            patch_size = getattr(tower, "patch_size", VERL_PATCH_SIZE)
            decoded = [policy_image(item, patch_size) for item in items]
        except Exception as error:  # PIL raises several types for undecodable bytes
            message = f"row {i} (extra_info.index {rows[i].get('extra_info', {}).get('index')}): {error}"
            if not skip_bad:
                raise ValueError(f"{message}; rerun with --skip-bad-rows to list and leave out such rows") from error
            records[i] = {"row": i, "error": str(error)}
            continue
        images += decoded
        owners += [i] * len(decoded)
    if images:
        values = tower.entropies(images)
        per_row: dict[int, list[float]] = {}
        for owner, value in zip(owners, values):
            per_row.setdefault(owner, []).append(value)
        for i, vals in per_row.items():
            records[i] = {"row": i, "visual_entropy": float(np.mean(vals))}
    return [records[i] for i in indices]


def _read_journal(journal: Path, header: dict) -> dict[int, dict]:
    journal.parent.mkdir(parents=True, exist_ok=True)
    journal.touch()
    done: dict[int, dict] = {}
    text = journal.read_text()
    if text and not text.endswith("\n"):
        with journal.open("a") as f:  # end a line cut by a kill so the next record starts clean
            f.write("\n")
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a kill mid-write; its row is simply recomputed
        if "header" in record:
            if record["header"] != header:
                raise ValueError(
                    f"{journal} belongs to another input or encoder ({record['header']}); remove it to start over"
                )
        else:
            done[record["row"]] = record
    return done


def _append(log, record: dict) -> None:
    log.write(json.dumps(record) + "\n")
    log.flush()
    os.fsync(log.fileno())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def entropy_summary(path: str | Path, bins: int = 30) -> dict:
    """Figure 4's data: the distribution of a dataset's visual entropy with its 25th/75th percentiles."""
    rows = read_rows(path)
    values = np.array([row["extra_info"]["visual_entropy"] for row in rows], dtype=np.float64)
    if values.size == 0:
        raise ValueError(f"{path}: no rows")
    counts, edges = np.histogram(values, bins=bins)
    return {
        "dataset": str(path),
        "encoder": rows[0]["extra_info"]["entropy_encoder"],
        "n": int(values.size),
        "q25": float(np.quantile(values, 0.25)),
        "q75": float(np.quantile(values, 0.75)),
        "mean": float(values.mean()),
        "min": float(values.min()),
        "max": float(values.max()),
        "histogram": {"edges": edges.tolist(), "counts": counts.tolist()},
        "values": values.tolist(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m durian.data.precompute",
                                     description="Add each row's visual entropy from the policy's vision tower.")
    parser.add_argument("--input", required=True, help="verl parquet rows")
    parser.add_argument("--output", required=True)
    parser.add_argument("--model", required=True, help="Qwen2.5-VL checkpoint (hub id or folder)")
    parser.add_argument("--features", choices=["merger", "last_block"], default="merger")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default=None)
    parser.add_argument("--skip-bad-rows", action="store_true")
    parser.add_argument("--summary", help="also write Figure 4's distribution JSON here")
    args = parser.parse_args(argv)
    tower = VisionTower(args.model, args.features, args.device)
    out = precompute_entropy(args.input, args.output, tower, batch_size=args.batch_size, skip_bad_rows=args.skip_bad_rows)
    if args.summary:
        summary = Path(args.summary)
        summary.parent.mkdir(parents=True, exist_ok=True)
        summary.write_text(json.dumps(entropy_summary(out), indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

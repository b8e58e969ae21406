"""Dataset preparation: Geometry3K and ViRL39K as verl ``RLHFDataset`` parquet files.

Each written row is ``{data_source, prompt, images, ability, reward_model, extra_info}``; ``prompt`` is
one user turn from :func:`durian.prompt.chat_messages` and ``images`` holds encoded image bytes.

Image resolution: each image dict carries ``min_pixels`` / ``max_pixels``, which verl's dataset hands
to ``qwen_vl_utils.fetch_image`` (the resize the policy sees, in rollouts and in the overlong-prompt
filter) and the entropy precompute reads too. The defaults are EasyR1's training bounds
(@a23fb5b ``examples/config.yaml``: 262,144 to 4,194,304 pixels), which the paper's training used
("the default settings of EasyR1"); NoisyRollout trains and evaluates at most 1,000,000.

A row without an answer would train as wrong (the reward grades against nothing): preparation
refuses such rows, naming dataset, split and row index of each, before it writes anything.

    python -m durian.data geometry3k --source hiyouga/geometry3k --out data/geometry3k
    python -m durian.data virl39k --source /path/to/ViRL39K --out data/virl39k --val-fraction 0.01
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from durian.prompt import IMAGE_PLACEHOLDER, Position, chat_messages

COLUMNS = ("data_source", "prompt", "images", "ability", "reward_model", "extra_info")
GEOMETRY3K = "hiyouga/geometry3k"  # verl's default reward also keys on this name
VIRL39K = "TIGER-Lab/ViRL39K"
VIRL39K_METADATA = "39Krelease.parquet"
VIRL39K_ARCHIVE = "images.zip"
TRAIN_MIN_PIXELS = 262_144  # EasyR1 @a23fb5b examples/config.yaml data.min_pixels
TRAIN_MAX_PIXELS = 4_194_304  # EasyR1 @a23fb5b examples/config.yaml data.max_pixels


class MissingAnswers(ValueError):
    """Rows without an answer, each named by dataset, split and row index; nothing was written."""

    def __init__(self, dataset: str, rows: list[str]):
        shown = "; ".join(rows[:20]) + (f" and {len(rows) - 20} more" if len(rows) > 20 else "")
        super().__init__(f"{dataset}: {len(rows)} rows have a missing or empty answer (they would train as "
                         f"wrong); nothing written: {shown}")
        self.rows = rows


def blank(answer: Any) -> bool:
    """A missing (None) or empty answer."""
    return answer is None or not str(answer).strip()


def _no_answer(split: str, index: int, answer: Any) -> str:
    return f"{split} row {index}: answer: is {'missing' if answer is None else 'empty'}"


def _encode_image(image: Any, where: str) -> dict[str, bytes]:
    """One image as ``{"bytes": ...}``: PIL images become PNG, encoded bytes are kept as they are."""
    if isinstance(image, dict):
        data = image.get("bytes")
        if data is None and image.get("path"):
            data = Path(image["path"]).read_bytes()
        image = data
    if isinstance(image, Image.Image):
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return {"bytes": buffer.getvalue()}
    if isinstance(image, (bytes, bytearray, memoryview)):
        data = bytes(image)
        try:
            Image.open(io.BytesIO(data))  # reads the header only
        except Exception as error:
            raise ValueError(f"{where}: images: not a decodable image ({error})") from error
        return {"bytes": data}
    raise ValueError(f"{where}: images: unsupported image entry of type {type(image).__name__}")


def make_row(
    *,
    question: str,
    images: list,
    answer: str,
    data_source: str,
    split: str,
    index: int,
    prompt_position: Position = "prepend",
    extra: dict | None = None,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
) -> dict:
    """One verl RLHFDataset row; errors name the field and the row index. ``min_pixels`` /
    ``max_pixels`` (each optional) go into every image dict, where qwen_vl_utils reads them."""
    where = f"row {index}"
    if not question or not question.strip():
        raise ValueError(f"{where}: question: is empty")
    if blank(answer):
        raise ValueError(f"{where}: answer: is {'missing' if answer is None else 'empty'}")
    answer = str(answer)
    if not images:
        raise ValueError(f"{where}: images: none given")
    try:
        prompt = chat_messages(question, prompt_position, num_images=len(images))
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from error
    bounds = {key: int(value) for key, value in (("min_pixels", min_pixels), ("max_pixels", max_pixels))
              if value is not None}
    if len(bounds) == 2 and not 0 < bounds["min_pixels"] <= bounds["max_pixels"]:
        raise ValueError(f"min_pixels ({min_pixels}) and max_pixels ({max_pixels}): need 0 < min <= max")
    return {
        "data_source": data_source,
        "prompt": prompt,
        "images": [{**_encode_image(image, where), **bounds} for image in images],
        "ability": "math",
        "reward_model": {"style": "rule", "ground_truth": answer},
        "extra_info": {"index": index, "split": split, "question": question, "answer": answer, **(extra or {})},
    }


def write_rows(rows: list[dict], path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write rows to a parquet file atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    if not rows:
        raise ValueError(f"{path}: no rows to write")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path}: already exists (pass overwrite=True to replace it)")
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        pq.write_table(table, temp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)  # mkstemp makes it owner-only; give it a plain file's mode
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


def read_rows(path: str | os.PathLike) -> list[dict]:
    return pq.read_table(path).to_pylist()


def _refuse_existing(paths: Iterable[Path], overwrite: bool) -> None:
    # Checked before any work so that a long preparation does not fail at its end.
    if not overwrite:
        for path in paths:
            if path.exists():
                raise FileExistsError(f"{path}: already exists (pass overwrite=True to replace it)")


def _arrow_rows(dataset: Any) -> Iterator[dict]:
    """Rows of a ``datasets.Dataset`` with images left encoded (``{"bytes", "path"}``), not decoded to PIL."""
    for batch in dataset.with_format("arrow").iter(batch_size=256):
        yield from batch.to_pylist()


def _load_geometry3k(source: str) -> Any:
    import datasets

    path = Path(source)
    if path.is_dir() and ((path / "dataset_dict.json").is_file() or (path / "state.json").is_file()):
        loaded = datasets.load_from_disk(str(path))
    else:
        loaded = datasets.load_dataset(str(path) if path.exists() else source)
    if not isinstance(loaded, datasets.DatasetDict):
        raise TypeError(f"{source}: expected a dataset with named splits, got a single {type(loaded).__name__}")
    return loaded


def prepare_geometry3k(
    source: str,
    out_dir: str | os.PathLike,
    *,
    splits: Sequence[str] = ("train", "validation", "test"),
    prompt_position: Position = "prepend",
    limit: int | None = None,
    overwrite: bool = False,
    min_pixels: int | None = TRAIN_MIN_PIXELS,
    max_pixels: int | None = TRAIN_MAX_PIXELS,
) -> dict[str, Path]:
    """Geometry3K (hub id, hub-layout folder or ``save_to_disk`` folder) to ``<out_dir>/<split>.parquet``;
    every split is checked before any is written."""
    out_dir = Path(out_dir)
    targets = {split: out_dir / f"{split}.parquet" for split in splits}
    _refuse_existing(targets.values(), overwrite)
    loaded = _load_geometry3k(source)
    missing = [split for split in splits if split not in loaded]
    if missing:
        raise ValueError(f"{source}: no split {missing} (has {sorted(loaded)})")
    rows_of: dict[str, list[dict]] = {}
    missing = []
    for split in targets:
        dataset = loaded[split]
        if limit is not None:
            dataset = dataset.select(range(min(limit, len(dataset))))
        rows = rows_of[split] = []
        for index, example in enumerate(_arrow_rows(dataset)):
            if blank(example.get("answer")):
                missing.append(_no_answer(split, index, example.get("answer")))
                continue
            question, images = example["problem"], example["images"] or []
            try:
                # Stricter than chat_messages: every Geometry3K problem places its own image.
                placed = (question or "").count(IMAGE_PLACEHOLDER)
                if images and placed != len(images):
                    raise ValueError(
                        f"row {index}: problem: holds {placed} {IMAGE_PLACEHOLDER} placeholders for {len(images)} images"
                    )
                rows.append(
                    make_row(
                        question=question,
                        images=images,
                        answer=example["answer"],
                        data_source=GEOMETRY3K,
                        split=split,
                        index=index,
                        prompt_position=prompt_position,
                        min_pixels=min_pixels,
                        max_pixels=max_pixels,
                    )
                )
            except ValueError as error:
                raise ValueError(f"geometry3k split {split!r} {error}") from error
    if missing:
        raise MissingAnswers("geometry3k", missing)
    return {split: write_rows(rows_of[split], target, overwrite=overwrite) for split, target in targets.items()}


def strip_boxed(answer: str) -> str:
    """``\\boxed{x}`` (the whole answer, optionally inside ``$...$``) -> ``x``; anything else unchanged."""
    text = answer.strip()
    if text.startswith("$") and text.endswith("$"):
        text = text.strip("$").strip()
    prefix = "\\boxed{"
    if not text.startswith(prefix):
        return answer.strip()
    depth = 0
    for position in range(len(prefix) - 1, len(text)):
        depth += {"{": 1, "}": -1}.get(text[position], 0)
        if depth == 0:
            # The wrapper must close at the very end: "\boxed{a} and \boxed{b}" stays as it is.
            return text[len(prefix) : position].strip() if position == len(text) - 1 else answer.strip()
    return answer.strip()


def _virl39k_metadata(source: Path) -> Path:
    if source.is_file():
        return source
    if (source / VIRL39K_METADATA).is_file():
        return source / VIRL39K_METADATA
    found = sorted(p for pattern in ("*.parquet", "*.jsonl") for p in source.glob(pattern))
    if len(found) != 1:
        raise ValueError(f"{source}: expected {VIRL39K_METADATA} or exactly one .parquet/.jsonl file, found {found}")
    return found[0]


def _read_metadata(path: Path) -> list[dict]:
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pylist()
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def _read_image(entry: Any, root: Path, archive: zipfile.ZipFile | None, where: str) -> Any:
    """A relative path of the release: an extracted file under ``root``, else an entry of ``images.zip``."""
    if not isinstance(entry, str):
        return entry  # already bytes, a PIL image or a {"bytes", "path"} dict
    relative = entry.replace("\\", "/")
    # "images/images/x.png" is what unzipping images.zip into an "images" folder gives.
    candidates = [Path(relative)] if Path(relative).is_absolute() else [root / relative, root / "images" / relative]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.read_bytes()
    if archive is not None:
        try:
            return archive.read(relative)
        except KeyError:
            pass
    raise ValueError(f"{where}: images: {entry!r} not found under {root} nor in its {VIRL39K_ARCHIVE}")


def _as_list(value: Any) -> list:
    if value is None:
        return []
    if isinstance(value, (str, bytes, dict, Image.Image)):
        return [value]
    return list(value)


def _local_virl39k(source: str) -> Path:
    path = Path(source)
    if path.exists():
        return path
    if source != VIRL39K:
        raise FileNotFoundError(f"{source}: no such file or folder (and not the hub id {VIRL39K})")
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(VIRL39K, repo_type="dataset", allow_patterns=[VIRL39K_METADATA, VIRL39K_ARCHIVE]))


def prepare_virl39k(
    source: str,
    out_dir: str | os.PathLike,
    *,
    prompt_position: Position = "prepend",
    limit: int | None = None,
    val_fraction: float = 0.0,
    seed: int = 0,
    overwrite: bool = False,
    min_pixels: int | None = TRAIN_MIN_PIXELS,
    max_pixels: int | None = TRAIN_MAX_PIXELS,
) -> dict[str, Path]:
    """ViRL39K (hub id, release folder or its metadata file) to ``train.parquet`` (+ ``validation.parquet``).

    The release is ``39Krelease.parquet`` (columns ``question``, ``answer`` as ``\\boxed{...}``, ``image``: a
    list of relative paths such as ``images/x.jpg``, ``category``, ``source``, ``qid``, ``PassRate_*``) plus
    ``images.zip``. ``index`` is the row number in the source file, so it stays unique across the two splits.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction: must be in [0, 1), got {val_fraction}")
    out_dir = Path(out_dir)
    split_names = ["train", "validation"] if val_fraction > 0 else ["train"]
    targets = {split: out_dir / f"{split}.parquet" for split in split_names}
    _refuse_existing(targets.values(), overwrite)

    metadata = _virl39k_metadata(_local_virl39k(source))
    examples = _read_metadata(metadata)[:limit]
    split_of = ["train"] * len(examples)
    if val_fraction > 0:
        count = max(1, round(len(examples) * val_fraction))
        for index in np.random.default_rng(seed).permutation(len(examples))[:count]:
            split_of[index] = "validation"

    root = metadata.parent
    rows: dict[str, list[dict]] = {split: [] for split in split_names}
    missing = []
    archive = zipfile.ZipFile(root / VIRL39K_ARCHIVE) if (root / VIRL39K_ARCHIVE).is_file() else None
    with archive or contextlib.nullcontext():
        for index, example in enumerate(examples):
            split = split_of[index]
            where = f"row {index}"
            try:
                question = example.get("question", example.get("problem"))
                entries = _as_list(example.get("image", example.get("images")))
                raw_answer = example.get("answer")
                answer = strip_boxed(str(raw_answer)) if raw_answer is not None else None
                if blank(answer):
                    missing.append(_no_answer(split, index, raw_answer))
                    continue
                rows[split].append(
                    make_row(
                        question=question,
                        images=[_read_image(entry, root, archive, where) for entry in entries],
                        answer=answer,
                        data_source=VIRL39K,
                        split=split,
                        index=index,
                        prompt_position=prompt_position,
                        min_pixels=min_pixels,
                        max_pixels=max_pixels,
                        extra={
                            key: example.get(key)
                            for key in ("qid", "category", "source", "PassRate_32BTrained", "PassRate_7BBase")
                            if key in example
                        },
                    )
                )
            except ValueError as error:
                raise ValueError(f"virl39k {metadata.name} {split} {error}") from error
    if missing:
        raise MissingAnswers(f"virl39k {metadata.name}", missing)
    return {split: write_rows(rows[split], targets[split], overwrite=overwrite) for split in split_names}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m durian.data", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="dataset", required=True)
    geometry = commands.add_parser("geometry3k", help="Geometry3K: train, validation and test")
    geometry.add_argument("--source", default=GEOMETRY3K, help="hub id, hub-layout folder or save_to_disk folder")
    geometry.add_argument("--splits", nargs="+", default=["train", "validation", "test"],
                          help="split names, space- or comma-separated (e.g. train,validation)")
    virl = commands.add_parser("virl39k", help="ViRL39K: train (and an optional validation split)")
    virl.add_argument("--source", default=VIRL39K, help="hub id, release folder or its metadata file")
    virl.add_argument("--val-fraction", type=float, default=0.0)
    virl.add_argument("--seed", type=int, default=0)
    for command in (geometry, virl):
        command.add_argument("--out", required=True, help="output folder for <split>.parquet")
        command.add_argument("--limit", type=int, default=None, help="first N rows of each source split")
        command.add_argument("--prompt-position", choices=["prepend", "append"], default="prepend")
        command.add_argument("--min-pixels", type=int, default=TRAIN_MIN_PIXELS,
                             help="lower bound of each training image's pixels (default: EasyR1's)")
        command.add_argument("--max-pixels", type=int, default=TRAIN_MAX_PIXELS,
                             help="upper bound of each training image's pixels (default: EasyR1's)")
        command.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)

    common = {"prompt_position": args.prompt_position, "limit": args.limit, "overwrite": args.overwrite,
              "min_pixels": args.min_pixels, "max_pixels": args.max_pixels}
    if args.dataset == "geometry3k":
        splits = tuple(name for item in args.splits for name in item.split(",") if name)
        written = prepare_geometry3k(args.source, args.out, splits=splits, **common)
    else:
        written = prepare_virl39k(args.source, args.out, val_fraction=args.val_fraction, seed=args.seed, **common)
    for split, path in written.items():
        print(f"{split}: {pq.ParquetFile(path).metadata.num_rows} rows -> {path}")

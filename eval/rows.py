"""A benchmark's rows before and after generation: bad rows found before any generation, and the
generations kept on disk so that scoring (a judge above all) can fail and be resumed.

Bad rows (:func:`check_rows`): a document whose image is missing or undecodable, or whose answer
is missing or malformed, is found before the model generates anything. Without
``--skip-bad-rows`` the first one raises :class:`BadRowError`, one line naming the benchmark, the
row index and the document id; with it such rows are left out (:func:`keep_rows`) and recorded in
``<out>/<benchmark>.bad_rows.json``.

Generations (:func:`write_generations`, :func:`read_generations`): ``<out>/<benchmark>.generations.jsonl``,
a header line (what produced them: model, data, split, limit, generation settings) and one line per
question (prediction, visual entropy, confidence), written before any scoring. A rerun under the same
header reuses them instead of generating again.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

GENERATIONS_VERSION = 1


class BadRowError(ValueError):
    """A benchmark row that cannot be evaluated; the message names benchmark, row and document id."""


def _reason(stage: str, error: Exception) -> str:
    text = str(error).splitlines()[0][:160] if str(error) else ""
    if stage == "image":
        missing = isinstance(error, TypeError) and "NoneType" in text
        return f"image {'missing' if missing else 'undecodable'} ({type(error).__name__}: {text})"
    return f"answer missing or malformed ({type(error).__name__}: {text})"


def check_rows(benchmark: str, docs, docs_no_media, adapter, limit: int | None = None) -> list[dict]:
    """The bad rows among the first ``limit`` good ones (all rows when None): index, id, error.

    ``docs`` are the task's documents (lmms-eval's ``test_docs()``, after its ``process_docs``),
    ``docs_no_media`` the same without their image columns (to name a row whose image will not decode).
    """
    bad, good = [], 0
    for index in range(len(docs)):
        if limit is not None and good >= limit:
            break
        stage = "image"
        try:
            doc = docs[index]  # decodes the row's images
            adapter.doc_to_visual(doc)
            stage = "answer"
            adapter.pose(doc)
            good += 1
            continue
        except KeyError as error:
            if error.args and error.args[0] not in getattr(docs, "column_names", [error.args[0]]):
                raise  # a column the benchmark's schema has and these rows lack: the wrong data, not a bad row
            reason = _reason(stage, error)
        except Exception as error:  # noqa: BLE001 - any failure makes the row bad; the reason says which
            reason = _reason(stage, error)
        try:
            doc_id = adapter.doc_id(docs_no_media[index])
        except Exception:  # noqa: BLE001 - the row's id is what the answer check could not read
            doc_id = ""
        bad.append({"index": index, "id": doc_id or None, "error": reason})
    return bad


def bad_row_message(benchmark: str, bad: list[dict]) -> str:
    first = bad[0]
    named = f"id {first['id']!r}" if first["id"] else "no document id"
    more = f" ({len(bad)} bad rows in all)" if len(bad) > 1 else ""
    return (f"{benchmark}: row {first['index']} ({named}): {first['error']}{more}; "
            "--skip-bad-rows leaves such rows out and records them")


def screen(dataset, *, benchmark: str, adapter, original: Callable | None, limit: int | None, found: dict):
    """``process_docs`` checking the rows (lmms-eval reads a task's first document as it loads it, so
    the check runs here): the task's own ``process_docs`` first, then :func:`check_rows`; bad rows are
    left out and recorded in ``found`` (``bad``, ``keep``), and the caller raises :class:`BadRowError`
    unless they are to be skipped (raising here would meet lmms-eval's retries)."""
    from datasets import Image

    dataset = original(dataset) if original is not None else dataset
    media = [name for name, feature in dataset.features.items()
             if isinstance(feature, Image) or isinstance(getattr(feature, "feature", None), Image)]
    try:
        bad = check_rows(benchmark, dataset, dataset.remove_columns(media), adapter, limit)
    except KeyError as error:  # the wrong schema: lmms-eval's own first-document check raises it, unretried
        found.update(error=error, bad=[], keep=list(range(len(dataset))))
        return dataset
    skipped = {r["index"] for r in bad}
    found.update(bad=bad, keep=[i for i in range(len(dataset)) if i not in skipped])
    return dataset.select(found["keep"]) if bad else dataset


def keep_rows(dataset, keep: list[int], original: Callable | None = None):
    """``process_docs`` leaving out bad rows: the task's own ``process_docs`` first, then the rows kept
    (``select``, which decodes nothing)."""
    dataset = original(dataset) if original is not None else dataset
    return dataset.select(keep)


def write_bad_rows(out_dir: Path, benchmark: str, record: dict) -> Path:
    path = out_dir / f"{benchmark}.bad_rows.json"
    atomic_write(path, json.dumps(record, indent=2) + "\n")
    return path


# --------------------------------------------------------------------------------- generations
def model_stamp(model_dir: str) -> list | str:
    """What identifies a checkpoint's weights: (name, size, mtime) of its files, or the hub id."""
    path = Path(model_dir)
    if not path.is_dir():
        return model_dir
    return sorted([p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in path.iterdir() if p.is_file())


def model_name(model_dir: str) -> str:
    """What a results table calls the checkpoint: the hub id's name or the folder's (for a hub cache
    snapshot, ``models--ORG--NAME/snapshots/REV``, the repository's NAME), or for a project world's
    model (a ``manifest.json`` beside it) "tiny world Qwen2.5-VL (N M parameters)"."""
    path = Path(model_dir)
    if not path.is_dir():
        return str(model_dir).rstrip("/").rsplit("/", 1)[-1]
    count = _parameters(path)
    size = f" ({count / 1e6:.2f}M parameters)" if count else ""
    if (path.parent / "manifest.json").is_file() and path.name == "model":
        return f"tiny world Qwen2.5-VL{size}"
    parts = path.absolute().parts
    if len(parts) >= 3 and parts[-2] == "snapshots" and parts[-3].startswith("models--"):
        return f"{parts[-3].removeprefix('models--').split('--', 1)[-1]}{size}"
    return f"{path.name}{size}"


def _parameters(folder: Path) -> int | None:
    """The parameter count from the safetensors headers (no torch), or None."""
    total = 0
    for file in sorted(folder.glob("*.safetensors")):
        try:
            with open(file, "rb") as f:
                header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
        except (OSError, ValueError):
            return None
        for name, entry in header.items():
            if name != "__metadata__":
                count = 1
                for dim in entry["shape"]:
                    count *= dim
                total += count
    return total or None


def generations_path(out_dir: str | os.PathLike, benchmark: str) -> Path:
    return Path(out_dir) / f"{benchmark}.generations.jsonl"


def write_generations(path: Path, header: dict[str, Any], rows: list[dict]) -> None:
    lines = [json.dumps({"generations": GENERATIONS_VERSION, **header})] + [json.dumps(r) for r in rows]
    atomic_write(path, "\n".join(lines) + "\n")


def read_generations(path: Path, header: dict[str, Any]) -> list[dict] | None:
    """The rows of ``path`` when its header equals ``header``; None when absent, unreadable or other."""
    try:
        lines = path.read_text().splitlines()
        stored = json.loads(lines[0])
        rows = [json.loads(line) for line in lines[1:] if line.strip()]
    except (OSError, ValueError, IndexError):
        return None
    expected = json.loads(json.dumps({"generations": GENERATIONS_VERSION, **header}))
    return rows if stored == expected and rows else None


def atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as f:
            f.write(text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise

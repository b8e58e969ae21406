"""Offline fixtures: each benchmark's rows in its hub dataset's own schema, filled from the world's task.

Questions and images come from :func:`durian.world.task.make_split` (shape counting, polygon sides;
the yes/no form for HallusionBench), so the tiny world model answers some of them. Each benchmark's
task folder writes its own rows and declares its columns (``fixture_rows`` and ``features`` of the
adapter in ``eval/tasks/durian_<benchmark>/utils.py``): the columns, types and answer conventions
(MathVista's option text, letter answers, WeMath's step groups, HallusionBench's ``gt_answer``
"1"/"0") are the hub datasets'. Written as local parquet files, ``<out>/<benchmark>/<split>.parquet``,
with images as encoded bytes in ``Image`` columns, beside each row's ground truth in
``<out>/truth/<benchmark>.jsonl``. Each benchmark's fixture stresses what the real one does
(``fixture_stress``: polygons only, heavier clutter, more to count; multiple choice and false-premise
yes/no come from its rows). Loads no torch.

    python -m eval.fixtures --out /tmp/fixtures [--seed 0] [--n 24]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
from pathlib import Path

from datasets import Dataset

from durian.world.task import Example, WorldConfig, make_split
from eval.task import task, tasks


def fixture_examples(benchmark: str, seed: int = 0, n: int = 24) -> list[Example]:
    """The world's examples behind ``benchmark``'s fixture rows, in row order (with their ground truth)."""
    adapter = task(benchmark).adapter
    return make_split(seed, f"eval-{benchmark}", n, WorldConfig().image_size, forms=(adapter.fixture_form,),
                      stress=adapter.fixture_stress)


def fixture_dataset(benchmark: str, seed: int = 0, n: int = 24, examples: list[Example] | None = None) -> Dataset:
    """``benchmark``'s fixture rows, from ``examples`` (default: :func:`fixture_examples`)."""
    adapter = task(benchmark).adapter
    examples = fixture_examples(benchmark, seed, n) if examples is None else examples
    rows = adapter.fixture_rows(examples, random.Random(f"{seed}-{benchmark}"))
    return Dataset.from_list(rows, features=adapter.features)


def truth_path(out_dir: str | os.PathLike, benchmark: str) -> Path:
    """The ground truth of ``benchmark``'s fixture, one JSON line per row (``doc_id`` = row index):
    the kind counted, the clutter level, the true count and the number a yes/no question states."""
    return Path(out_dir) / "truth" / f"{benchmark}.jsonl"


def truth_lines(examples: list[Example]) -> str:
    return "".join(json.dumps({"doc_id": i, "kind": e.kind, "clutter": e.clutter, "value": e.value, "shown": e.shown})
                   + "\n" for i, e in enumerate(examples))


def fixture_path(out_dir: str | os.PathLike, benchmark: str) -> Path:
    """Where :func:`write_fixtures` puts ``benchmark``'s fixture: ``<out_dir>/<benchmark>/<split>.parquet``."""
    return Path(out_dir) / benchmark / f"{task(benchmark).split}.parquet"


def write_fixtures(out_dir: str | os.PathLike, seed: int = 0, n: int = 24) -> dict[str, Path]:
    """Every benchmark's fixture (atomically, at :func:`fixture_path`); returns the paths."""
    if n < 1:
        raise ValueError(f"n: must be positive, got {n}")
    paths = {}
    for name in tasks():
        examples = fixture_examples(name, seed, n)
        lines = truth_lines(examples)
        _atomic(truth_path(out_dir, name), lambda temp: Path(temp).write_text(lines))
        paths[name] = _atomic(fixture_path(out_dir, name), fixture_dataset(name, seed, n, examples).to_parquet)
    return paths


def _atomic(path: Path, write) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        write(temp)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m eval.fixtures",
                                     description="Write the offline fixture of every benchmark as parquet files.")
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-n", "--n", type=int, default=24, help="questions per benchmark")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error(f"-n/--n: a positive number of questions, got {args.n}")
    for name, path in write_fixtures(args.out, args.seed, args.n).items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()

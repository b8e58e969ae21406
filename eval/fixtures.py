"""Offline fixtures: each benchmark's rows in its hub dataset's own schema, filled from the world's task.

Questions and images come from :func:`durian.world.task.make_split` (shape counting, polygon sides;
the yes/no form for HallusionBench), so the tiny world model answers some of them. Each benchmark's
task folder writes its own rows and declares its columns (``fixture_rows`` and ``features`` of the
adapter in ``eval/tasks/durian_<benchmark>/utils.py``): the columns, types and answer conventions
(MathVista's option text, letter answers, WeMath's step groups, HallusionBench's ``gt_answer``
"1"/"0") are the hub datasets'. Written as local parquet files, ``<out>/<benchmark>/<split>.parquet``,
with images as encoded bytes in ``Image`` columns. Loads no torch.

    python -m eval.fixtures --out /tmp/fixtures [--seed 0] [--n 24]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
from pathlib import Path

from datasets import Dataset

from durian.world.task import WorldConfig, make_split
from eval.task import task, tasks


def fixture_dataset(benchmark: str, seed: int = 0, n: int = 24) -> Dataset:
    adapter = task(benchmark).adapter
    examples = make_split(seed, f"eval-{benchmark}", n, WorldConfig().image_size, forms=(adapter.fixture_form,))
    rows = adapter.fixture_rows(examples, random.Random(f"{seed}-{benchmark}"))
    return Dataset.from_list(rows, features=adapter.features)


def fixture_path(out_dir: str | os.PathLike, benchmark: str) -> Path:
    """Where :func:`write_fixtures` puts ``benchmark``'s fixture: ``<out_dir>/<benchmark>/<split>.parquet``."""
    return Path(out_dir) / benchmark / f"{task(benchmark).split}.parquet"


def write_fixtures(out_dir: str | os.PathLike, seed: int = 0, n: int = 24) -> dict[str, Path]:
    """Every benchmark's fixture (atomically, at :func:`fixture_path`); returns the paths."""
    if n < 1:
        raise ValueError(f"n: must be positive, got {n}")
    paths = {}
    for name in tasks():
        path = fixture_path(out_dir, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(handle)
        try:
            fixture_dataset(name, seed, n).to_parquet(temp)
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        paths[name] = path
    return paths


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

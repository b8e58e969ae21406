"""The paper's numbers (``reports/paper/*.csv``, in %) and how our runs map onto them."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from importlib import resources

import pandas as pd

from durian.experiment import BASE_RUN, BENCHMARKS, PAPER_BENCHMARKS
from reports.results import ResultError

# benchmark key -> its column in the paper's tables (the registry's display names); the paper's
# "Average" is over these five; in-domain benchmarks (geometry3k) have no paper column
PAPER_COLUMNS = {benchmark: BENCHMARKS[benchmark] for benchmark in PAPER_BENCHMARKS}

PAPER_TABLES = {
    "table1": "table1_main",
    "table2": "table2_reasoning_groups",
    "table3": "table3_weights",
    "table4": "table4_extreme_samples",
    "table5": "table5_perceptual_error_share",
    "table6": "table6_reasoning_error_share",
    "table7": "table7_rollout",
}

# our arm (BASE_RUN for the plan's base run) -> its row in the paper's table 1 (section "ours")
TABLE1_PAPER_ROWS = {
    BASE_RUN: "Qwen2.5-VL-7B-Instruct",
    "grpo": "+ Vanilla GRPO",
    "grpo-durian": "+ Durian (based on Vanilla GRPO)",
    "dapo": "+ Vanilla DAPO",
    "dapo-durian": "+ Durian (based on Vanilla DAPO)",
}
TABLE1_DATA_SIZE = "2.1K (Geometry3K)"  # our training set; the ViRL39K row is quoted only
PAPER_BASE_MODEL = TABLE1_PAPER_ROWS[BASE_RUN]  # the model the paper's "ours" rows start from
# How the paper's numbers were scored: NoisyRollout's evaluation, which the paper follows (its
# Table 1 quotes NoisyRollout's row); eval.run reproduces it with --scoring judge, --split
# mathvision=test and --extraction hallusionbench=strict (workflow/config/paper.yaml, judge.yaml).
PAPER_PROTOCOL = (
    "The paper's numbers follow NoisyRollout's protocol: a Gemini-2.0-Flash judge for MathVerse, MathVista, "
    "MathVision and WeMath (WeMath as per-question accuracy), HallusionBench by the last \\boxed{} only, "
    "MathVision on its full test set (3,040 questions); Qwen2.5-VL-7B-Instruct trained on Geometry3K (2.1K).")


@cache
def _read(stem: str) -> pd.DataFrame:
    resource = resources.files("reports") / "paper" / f"{stem}.csv"
    if not resource.is_file():
        raise ResultError(f"missing paper table: {resource}")
    with resource.open() as handle:
        return pd.read_csv(handle, dtype={"data_size": "string"} if stem == "table1_main" else None)


def paper_table(name: str) -> pd.DataFrame:
    """A paper table by short name (``table1`` .. ``table7``) or file stem (``table1_main``); a copy."""
    stem = PAPER_TABLES.get(name, name)
    if stem not in PAPER_TABLES.values():
        raise ResultError(f"no paper table {name!r} (have {', '.join(PAPER_TABLES)})")
    return _read(stem).copy()


def paper_column(benchmark: str) -> str | None:
    """The paper's column for ``benchmark``; None for one the paper does not report (in-domain)."""
    return PAPER_COLUMNS.get(benchmark)


def table1_paper_row(arm: str) -> pd.Series | None:
    """The paper's table-1 numbers for our ``arm`` (BASE_RUN for the base model), or None when
    the paper has no row for it (e.g. drgrpo, grpo-batchstd)."""
    model = TABLE1_PAPER_ROWS.get(arm)
    if model is None:
        return None
    table = paper_table("table1")
    rows = table[(table["section"] == "ours") & (table["model"] == model)]
    if len(rows) > 1:
        rows = rows[rows["data_size"] == TABLE1_DATA_SIZE]
    if len(rows) != 1:
        raise ResultError(f"paper table1_main.csv: expected one 'ours' row {model!r}, found {len(rows)}")
    return rows.iloc[0]


def quoted_table1_rows(measured: Iterable[str] = ()) -> pd.DataFrame:
    """The paper's table-1 rows that no ``measured`` arm (BASE_RUN for the base model) stands
    beside: other systems, ours on ViRL39K, and our rows the plan does not run. Quoted as printed."""
    table = paper_table("table1")
    ours = pd.Series(False, index=table.index)
    for arm in measured:
        if arm in TABLE1_PAPER_ROWS:
            size = table["data_size"].isna() if arm == BASE_RUN else table["data_size"] == TABLE1_DATA_SIZE
            ours |= (table["section"] == "ours") & (table["model"] == TABLE1_PAPER_ROWS[arm]) & size
    return table[~ours.fillna(False)].reset_index(drop=True)

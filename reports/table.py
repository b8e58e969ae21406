"""The table type at the bottom of the reports: :class:`Table` and its CSV / Markdown / LaTeX
files (each written atomically), and the cell formats every table shares.

A table's ``frame`` is machine-friendly (the CSV: one flat column per number, full precision);
its ``display`` (optional) is the same formatted for people (the Markdown and LaTeX). A number
that does not exist is NaN in the CSV and shows as :data:`DASH`.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

DASH = "—"


@dataclass
class Table:
    """A table: ``frame`` is the machine-friendly data (the CSV); ``display`` (optional) the same
    formatted for people (the Markdown and LaTeX; ``frame`` when None)."""

    name: str
    title: str
    caption: str
    frame: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    display: pd.DataFrame | None = None

    def shown(self) -> pd.DataFrame:
        return self.frame if self.display is None else self.display

    def markdown(self) -> str:
        notes = "".join(f"- {note}\n" for note in self.notes)
        text = f"## {self.title}\n\n{self.caption}\n\n{markdown_table(self.shown())}\n"
        return text + (f"\n{notes}" if notes else "")

    def latex(self) -> str:
        shown = self.shown().map(lambda value: DASH if is_missing(value) else str(value))
        body = shown.to_latex(index=False, escape=True, caption=latex_escape(self.caption),
                              label=f"tab:{self.name}", position="htbp")
        notes = "".join(f"% {line}\n" for note in self.notes for line in note.splitlines())
        return f"% {self.title}\n{notes}{body}".replace(DASH, "---")

    def write(self, out_dir: str | Path) -> list[Path]:
        """``<name>.csv``, ``<name>.md``, ``<name>.tex`` in ``out_dir``, each written atomically."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        texts = {"csv": self.frame.to_csv(index=False, float_format="%.6g"), "md": self.markdown(), "tex": self.latex()}
        paths = []
        for suffix, text in texts.items():
            path = out_dir / f"{self.name}.{suffix}"
            write_atomic(path, text)
            paths.append(path)
        return paths


def write_atomic(path: Path, text: str) -> None:
    """Write a temporary file beside ``path`` (default permissions) and rename it over ``path``."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        temp.write_text(text, encoding="utf-8")
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub pipe table (no ``tabulate`` dependency); ``|`` in cells is escaped."""
    def cell(value: Any) -> str:
        text = DASH if is_missing(value) else str(value)
        return text.replace("|", "\\|").replace("\n", " ")

    header = [cell(c) for c in frame.columns]
    rows = [[cell(v) for v in row] for row in frame.itertuples(index=False)]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def latex_escape(text: str) -> str:
    return "".join(LATEX_SPECIAL.get(ch, ch) for ch in text)


# ------------------------------------------------------------------------------------- cell formats
def is_missing(value: Any) -> bool:
    if value is None or isinstance(value, (list, tuple, np.ndarray)):
        return value is None
    return bool(pd.isna(value))


def fmt_pct(value: float) -> str:
    return DASH if is_missing(value) else f"{value:.1f}"


def fmt_signed(value: float) -> str:
    return DASH if is_missing(value) else f"{value:+.1f}"


def fmt_interval(mean: float, low: float, high: float) -> str:
    return DASH if is_missing(mean) else f"{mean:.1f} [{low:.1f}, {high:.1f}]"


def fmt_p(value: float) -> str:
    return DASH if is_missing(value) else f"{value:.3g}"


def fmt_count(value: float) -> str:
    if is_missing(value):
        return DASH
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"

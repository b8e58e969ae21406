"""Build what a Snakemake target asks for from a results folder: its tables
(``tables/<name>.{csv,md,tex}``), its figures (``figures/<name>.{png,svg}``) and, optionally, the
HTML report of them (``<out_dir>/<report_name>``).

A scope is an ordered list of table and figure names (``SCOPES`` in :mod:`durian.experiment`, the
vocabulary the workflow reads too); the report shows them in that order, each figure beside its
table, and its items see the plan narrowed to the scope's targets (``SCOPE_TARGETS``). Result
files only: no torch, verl or lmms-eval.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from durian.experiment import SCOPE_TARGETS, SCOPES, Plan, load_plan
from reports import figures as figs
from reports.html import provenance, render, write_report
from reports.results import REPORT_ERRORS, NotApplicable
from reports.table import Table
from reports.tables import TABLE_TARGETS, TABLES

# the plan targets each item reads runs of
ITEM_TARGETS = {**TABLE_TARGETS, **figs.FIGURE_TARGETS}
# targets whose tables also read the plan's base run (evaluated only)
BASE_TARGETS = ("table1",)


def default_report_name(scope: str) -> str:
    """The default report file of a scope: ``report.html`` for ``all``, else ``report_<scope>.html``."""
    return "report.html" if scope == "all" else f"report_{scope}.html"


def expected_files(scope: str) -> list[str]:
    """The paths (relative to the output folder) a scope writes, report aside."""
    files = []
    for name in SCOPES[scope]:
        suffixes = ("csv", "md", "tex") if name in TABLES else ("png", "svg")
        files += [f"{'tables' if name in TABLES else 'figures'}/{name}.{suffix}" for suffix in suffixes]
    return files


def report_runs(plan: Plan, names: list[str]) -> list[str]:
    """The runs behind the built items, base run first, each once, in plan order."""
    targets = [t for name in names for t in ITEM_TARGETS[name] if t in plan.targets]
    runs = [plan.base_run] if plan.base_run and any(t in BASE_TARGETS for t in targets) else []
    for target in dict.fromkeys(targets):
        runs += [run_id for run_id in plan.runs(target) if run_id not in runs]
    return runs


def scoped_plan(plan: Plan, scope: str) -> Plan:
    """``plan`` with only the targets that ``scope`` reads."""
    return dataclasses.replace(plan, targets={t: runs for t, runs in plan.targets.items() if t in SCOPE_TARGETS[scope]})


def build(results: str | Path, plan_path: str | Path | None = None, scope: str = "all",
          out_dir: str | Path | None = None, report_name: str | None = None, n_boot: int = 2000,
          partial: bool = False) -> dict[str, Any]:
    """Build ``scope`` from the results folder ``results`` (plan: ``plan_path``, default
    ``<results>/plan.json``) into ``out_dir`` (default ``results``), printing one line per item.
    ``out_dir`` always gets ``tables/`` and ``figures/`` (empty where the scope has none).

    A missing or malformed plan raises :class:`~durian.experiment.PlanError`, a missing or
    malformed result file :class:`~reports.results.ResultError`, each naming the file; with
    ``partial``, an item whose results (or plan target) are missing is left out instead and listed
    (with the error) in the report and in ``skipped``.
    Returns ``{"tables": {name: [paths]}, "figures": {name: [paths]}, "report": path | None,
    "skipped": {name: error}, "seconds": {name: s}, "total_seconds": s}``.
    """
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r} (have {', '.join(SCOPES)})")
    start = time.perf_counter()
    results = Path(results)
    out_dir = Path(out_dir) if out_dir is not None else results
    plan = scoped_plan(load_plan(plan_path if plan_path is not None else results / "plan.json"), scope)
    built: dict[str, Any] = {"tables": {}, "figures": {}, "report": None, "skipped": {}, "seconds": {}}
    for folder in ("tables", "figures"):
        (out_dir / folder).mkdir(parents=True, exist_ok=True)
    tables: list[Table] = []
    shown: list[tuple[str, Any]] = []  # (kind, table or figure tuple), in scope order
    for name in SCOPES[scope]:
        item_start = time.perf_counter()
        try:
            if name in TABLES:
                table = TABLES[name](results, plan, n_boot=n_boot)
                built["tables"][name] = table.write(out_dir / "tables")
                tables.append(table)
                shown.append(("table", table))
            else:
                extra = {"tables": {t.name: t for t in tables}} if name in figs.FROM_TABLES else {}
                paths = figs.save(figs.FIGURES[name](results, plan, **extra), out_dir / "figures", name)
                built["figures"][name] = paths
                shown.append(("figure", (name, figs.TITLES[name], figs.caption(name), paths[0])))
        except REPORT_ERRORS as err:
            if not partial and not isinstance(err, NotApplicable):
                raise
            built["skipped"][name] = str(err)
            print(f"{name} ... skipped: {err}", flush=True)
            continue
        built["seconds"][name] = time.perf_counter() - item_start
        print(f"{name} ... {built['seconds'][name]:.2f} s", flush=True)
    if report_name is not None:
        item_start = time.perf_counter()
        done = [name for name in SCOPES[scope] if name not in built["skipped"]]
        title = "Durian reproduction report" + ("" if scope == "all" else f": {scope}")
        html = render(plan, title=title, sections=shown, tables=tables,
                      provenance_table=provenance(results, plan, report_runs(plan, done), partial=partial),
                      skipped=built["skipped"])
        built["report"] = write_report(out_dir / report_name, html)
        built["seconds"]["report"] = time.perf_counter() - item_start
        print(f"report {built['report']} ... {built['seconds']['report']:.2f} s", flush=True)
    built["total_seconds"] = time.perf_counter() - start
    return built

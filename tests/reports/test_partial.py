"""``python -m reports --partial`` with an eval file missing: the items that need it are left out, the
report is still written, its provenance names what is missing instead of failing."""

from __future__ import annotations

import re

from reports.__main__ import main


def provenance_section(html: str) -> str:
    section = html[html.index('<table id="provenance">'):]
    return section[: section.index("</section>")] if "</section>" in section else section


def test_partial_report_leaves_out_a_runs_missing_eval_file(results_folder, tmp_path, capsys):
    root, plan = results_folder
    missing = root / "eval" / "grpo-s1" / "mathvista.json"
    missing.unlink()
    out = tmp_path / "out"
    args = ["--results", str(root), "--scope", "all", "--out", str(out), "--report", "report.html", "--n-boot", "20"]
    assert main(args) == 1  # without --partial: one line naming the file
    assert f"error: missing result file: {missing}" in capsys.readouterr().err

    assert main([*args, "--partial"]) == 0
    printed = capsys.readouterr()
    assert "item(s) skipped" in printed.out and printed.err == ""
    html = (out / "report.html").read_text()
    assert '<table id="table1">' not in html and 'id="skipped"' in html
    provenance = provenance_section(html)
    rows = re.findall(r"<tr><td>([^<]+)</td>", provenance)
    assert "grpo-s1" in rows  # a run behind items that were built (its training metrics)
    assert str(missing) in provenance  # named in the provenance's note
    row = provenance[provenance.index("<tr><td>grpo-s1</td>"):]
    row = row[: row.index("</tr>")]
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", row)
    per_benchmark = 4  # the fixture's questions per benchmark
    assert str(per_benchmark * (len(plan.benchmarks) - 1)) in cells  # the questions of the evals that exist

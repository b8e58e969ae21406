"""The report's summary verdicts from folders whose outcome is known: Durian wins everywhere, loses
everywhere, or wins on one benchmark and loses on another (the fixture's folder is all inconclusive)."""

from __future__ import annotations

import re

from reports_fixtures import write_results

from reports.build import build

BENCHMARKS = ["mathvista", "wemath"]
RUNS = {"grpo-s1": {"arm": "grpo", "seed": 1}, "grpo-durian-s1": {"arm": "grpo-durian", "seed": 1}}
N = 30


def summary_cells(tmp_path, durian: dict[str, bool], grpo: dict[str, bool]) -> dict[str, tuple[str, str]]:
    """benchmark -> (verdict class, difference) of the grpo-durian row, built from a folder where
    each run answers all N questions of a benchmark right or all wrong."""
    correct = {("base", b): [False] * N for b in BENCHMARKS}
    correct |= {("grpo-s1", b): [grpo[b]] * N for b in BENCHMARKS}
    correct |= {("grpo-durian-s1", b): [durian[b]] * N for b in BENCHMARKS}
    root = tmp_path / "results"
    write_results(root, RUNS, correct, benchmarks=BENCHMARKS)
    html = build(root, scope="table1", report_name="report.html", n_boot=200)["report"].read_text()
    table = html[html.index('<table id="summary-table">'):]
    table = table[: table.index("</table>")]
    [row] = re.findall(r"<tr><td><strong>grpo-durian</strong></td>.*?</tr>", table, re.DOTALL)
    cells = re.findall(r'<td class="cell (\w+)"[^>]*><span class="diff">([^<]+)</span>', row)
    tally = {name: int(count) for count, name in re.findall(r"(\d+) (better|worse|inconclusive)</span>", row)}
    assert tally == {"better": sum(v == "win" for v, _ in cells), "worse": sum(v == "loss" for v, _ in cells),
                     "inconclusive": sum(v == "inconclusive" for v, _ in cells)}
    return dict(zip(BENCHMARKS, cells))


def test_durian_winning_everywhere_is_a_win_in_every_cell(tmp_path):
    cells = summary_cells(tmp_path, durian={"mathvista": True, "wemath": True}, grpo={"mathvista": False, "wemath": False})
    assert cells == {"mathvista": ("win", "+100.0"), "wemath": ("win", "+100.0")}


def test_durian_losing_everywhere_is_a_loss_in_every_cell(tmp_path):
    cells = summary_cells(tmp_path, durian={"mathvista": False, "wemath": False}, grpo={"mathvista": True, "wemath": True})
    assert cells == {"mathvista": ("loss", "-100.0"), "wemath": ("loss", "-100.0")}


def test_a_win_and_a_loss_land_in_their_own_benchmarks(tmp_path):
    cells = summary_cells(tmp_path, durian={"mathvista": True, "wemath": False}, grpo={"mathvista": False, "wemath": True})
    assert cells == {"mathvista": ("win", "+100.0"), "wemath": ("loss", "-100.0")}

"""reports.build / python -m reports: what each scope writes, named errors for missing results,
a self-contained report, and no torch / verl / lmms-eval on the way."""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
from reports_fixtures import write_results, write_standard

from durian.experiment import SCOPE_TARGETS, SCOPES, TARGETS, PlanError
from reports import figures
from reports.__main__ import main
from reports.build import ITEM_TARGETS, build, default_report_name, expected_files
from reports.results import ResultError
from reports.tables import TABLES

REPO = Path(__file__).resolve().parents[2]
N_BOOT = 50


def written(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def test_scope_all_covers_every_table_and_figure():
    assert set(SCOPES["all"]) == set(TABLES) | set(figures.FIGURES)
    assert set(SCOPES) == set(SCOPE_TARGETS)
    assert all(name in SCOPES["all"] for scope in SCOPES.values() for name in scope)


def test_every_item_reads_plan_targets_of_the_vocabulary():
    assert set(ITEM_TARGETS) == set(SCOPES["all"])
    assert all(set(targets) <= set(TARGETS) for targets in ITEM_TARGETS.values())


# The README's table of scope -> what its folder holds (tables, figures), written out here, not read
# from the code (the sweeps are figures: ours per benchmark against the paper's dashed values).
README_SCOPES = {
    "table1": (["table1", "learning", "significance", "appendix_a", "appendix_b_perceptual", "appendix_b_confidence",
                "ground_truth"], ["training_curves", "fig4_entropy", "appendix_b_errors", "ground_truth_difficulty"]),
    "table2_groups": (["table2"], ["table2_sweep"]),
    "table3_weights": (["table3"], ["table3_sweep"]),
    "table7_rollout": (["table7"], ["table7_sweep"]),
    "fig3_ablation": ([], ["fig3_ablation"]),
    "fig4_entropy": ([], ["fig4_entropy"]),
    "appendix_a": (["appendix_a"], ["training_curves"]),
    "appendix_b": (["appendix_b_perceptual", "appendix_b_confidence"], ["appendix_b_errors"]),
}


def readme_files(scope: str) -> set[str]:
    tables, figs = README_SCOPES[scope]
    return ({f"tables/{t}.{s}" for t in tables for s in ("csv", "md", "tex")}
            | {f"figures/{f}.{s}" for f in figs for s in ("png", "svg")})


def test_scope_all_is_every_scope_together():
    assert set(README_SCOPES) == set(SCOPES) - {"all"}
    assert set(expected_files("all")) == set().union(*(readme_files(scope) for scope in README_SCOPES))


@pytest.mark.parametrize("scope", [s for s in SCOPES if s != "all"])
def test_each_scope_writes_exactly_its_files(results_folder, tmp_path, scope):
    root, _ = results_folder
    out = tmp_path / "out"
    built = build(root, scope=scope, out_dir=out, n_boot=N_BOOT)
    assert written(out) == readme_files(scope) == set(expected_files(scope))
    assert set(built["tables"]) | set(built["figures"]) == set(SCOPES[scope])
    assert built["report"] is None and not built["skipped"]


@pytest.fixture(scope="module")
def built_all(tmp_path_factory) -> tuple[Path, set[str], dict, str]:
    """Scope all with its report, built once for this module: (root, files before, build result, stdout)."""
    root = tmp_path_factory.mktemp("built") / "results" / "test"
    write_standard(root)
    before = written(root)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        built = build(root, scope="all", report_name=default_report_name("all"), n_boot=N_BOOT)
    return root, before, built, out.getvalue()


def test_scope_all_with_the_report(built_all):
    root, before, built, out = built_all
    assert written(root) - before == set(expected_files("all")) | {"report.html"}
    assert len(expected_files("all")) == 3 * len(TABLES) + 2 * len(figures.FIGURES)
    assert built["report"] == root / "report.html"
    assert re.search(r"^table1 \.\.\. \d+\.\d\d s$", out, re.M) and "report" in out
    html = built["report"].read_text()
    for name in TABLES:
        assert f'<table id="{name}">' in html
    assert html.count('<img src="data:image/png;base64,') == len(figures.FIGURES)
    assert '<table id="summary-table">' in html and '<table id="provenance">' in html


def test_report_is_self_contained(built_all):
    html = built_all[2]["report"].read_text()
    assert "http://" not in html and "https://" not in html and "//" not in re.sub(r"data:[^\"]*", "", html)
    assert re.findall(r'src="([^":]*):', html) == ["data"] * len(figures.FIGURES)
    assert all(href.startswith("#") for href in re.findall(r'href="([^"]*)"', html))
    assert "<link" not in html and "@import" not in html and "<script" not in html


def test_summary_says_who_wins(results_folder):
    root, _ = results_folder
    html = build(root, scope="table1", report_name="report_table1.html", n_boot=N_BOOT)["report"].read_text()
    summary = html[html.index('<table id="summary-table">'):]
    summary = summary[:summary.index("</table>")]
    # grpo-durian (75%, 100%) vs grpo (50%, 75%), dapo-durian (75%) vs dapo (50%): +25 points everywhere
    assert summary.count('<span class="diff">+25.0</span>') == 12
    assert "dapo-durian-perceptual" not in summary  # the fig3 arms are not in scope table1


def test_a_plan_of_baselines_only_says_there_is_nothing_to_test(tmp_path):
    correct = {(run, b): [True, False, True, False] for run in ("base", "grpo-s1") for b in ("mathvista", "wemath")}
    root = tmp_path / "results"
    write_results(root, {"grpo-s1": {"arm": "grpo", "seed": 1}}, correct, benchmarks=["mathvista", "wemath"])
    html = build(root, scope="table1", report_name="report.html", n_boot=N_BOOT)["report"].read_text()
    assert '<p id="summary-empty">No Durian arm with its base arm in this plan (arms: grpo): nothing to test.</p>' in html
    assert '<table id="summary-table">' not in html


def test_provenance_lists_every_run_of_the_scope(results_folder):
    root, plan = results_folder
    html = build(root, scope="table1", report_name="r.html", n_boot=N_BOOT)["report"].read_text()
    provenance = html[html.index('<table id="provenance">'):]
    provenance = provenance[:provenance.index("</table>")]
    rows = re.findall(r"<tr><td>([^<]+)</td>", provenance)
    assert rows == ["base", *plan.runs("table1")]
    assert "0.9.1" in provenance and "0.7.3" in provenance and "rules" in provenance and "12 s" in provenance


def test_missing_eval_file_raises_naming_it(results_folder, tmp_path):
    root, _ = results_folder
    missing = root / "eval" / "dapo-durian-k4-s1" / "mathverse.json"
    missing.unlink()
    with pytest.raises(ResultError, match=re.escape(str(missing))):
        build(root, scope="table2_groups", out_dir=tmp_path / "out", n_boot=N_BOOT)
    build(root, scope="table3_weights", out_dir=tmp_path / "out", n_boot=N_BOOT)  # other scopes unaffected


def test_partial_build_leaves_out_and_lists_what_is_missing(results_folder, tmp_path):
    root, _ = results_folder
    missing = root / "eval" / "dapo-durian-k4-s1" / "mathverse.json"
    missing.unlink()
    built = build(root, scope="all", out_dir=tmp_path / "out", report_name="report.html", n_boot=N_BOOT,
                  partial=True)
    assert set(built["skipped"]) == {"table2", "table2_sweep"}
    assert all(str(missing) in error for error in built["skipped"].values())
    assert written(tmp_path / "out") == set(expected_files("all")) - set(
        expected_files("table2_groups")) | {"report.html"}
    html = built["report"].read_text()
    assert 'id="skipped"' in html and "dapo-durian-k4-s1" in html and '<table id="table2">' not in html


def test_missing_plan_names_it(tmp_path):
    with pytest.raises(PlanError, match="plan.json"):
        build(tmp_path, scope="all")


def test_cli_names_a_missing_or_malformed_plan_in_one_line(tmp_path, capsys):
    assert main(["--results", str(tmp_path), "--scope", "fig4_entropy"]) == 1
    assert capsys.readouterr().err == f"error: missing plan file: {tmp_path / 'plan.json'}\n"
    (tmp_path / "plan.json").write_text('{"scale": "test"}')
    assert main(["--results", str(tmp_path), "--scope", "fig4_entropy"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path / 'plan.json'}: missing field(s) base_run") and err.count("\n") == 1


def test_unknown_scope():
    with pytest.raises(ValueError, match="unknown scope"):
        build(".", scope="table9")


def test_cli(results_folder, tmp_path, capsys):
    root, _ = results_folder
    out = tmp_path / "out"
    assert main(["--results", str(root), "--scope", "fig3_ablation", "--out", str(out), "--report",
                 "r.html", "--n-boot", "20"]) == 0
    assert written(out) == {"figures/fig3_ablation.png", "figures/fig3_ablation.svg", "r.html"}
    assert "fig3_ablation: 2 files and the report" in capsys.readouterr().out
    (root / "eval" / "dapo-s1" / "wemath.json").unlink()
    assert main(["--results", str(root), "--scope", "fig3_ablation", "--out", str(out)]) == 1
    assert "eval/dapo-s1/wemath.json" in capsys.readouterr().err


def test_cli_flags_the_workflow_uses(results_folder, tmp_path, capsys):
    root, _ = results_folder
    out = tmp_path / "reports" / "fig4_entropy"
    assert main(["--results", str(root), "--plan", str(root / "plan.json"), "--scope", "fig4_entropy",
                 "--out", str(out), "--report", "report.html", "--n-boot", "20"]) == 0
    assert written(out) == {"figures/fig4_entropy.png", "figures/fig4_entropy.svg", "report.html"}
    assert (out / "tables").is_dir()  # declared outputs exist even for a scope without tables


def test_build_imports_no_torch_verl_or_lmms_eval(results_folder, tmp_path):
    root, _ = results_folder
    code = (
        "import sys\n"
        "from reports.build import build\n"
        f"build({str(root)!r}, scope='all', out_dir={str(tmp_path)!r}, report_name='report.html', n_boot=20)\n"
        "loaded = [m for m in ('torch', 'verl', 'lmms_eval') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "report.html").is_file()

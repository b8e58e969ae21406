"""Table builders on small results folders with known answers (see ``reports_fixtures.PATTERNS``:
four questions per benchmark, visual entropy 0.1..0.4, confidence -1..-0.25)."""

import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from reports_fixtures import BENCHMARKS, PATTERNS, RUNS, write_results

from durian.experiment import PlanError
from reports.outcomes import protocol
from reports.reference import PAPER_COLUMNS, paper_table, quoted_table1_rows, table1_paper_row
from reports.results import NotApplicable, ResultError
from reports.table import DASH, Table, markdown_table
from reports.tables import TABLES, available_tables, build_tables, learning, significance, table1, table2, table3, table7
from reports.tables.appendix import appendix_a as build_appendix_a
from reports.tables.appendix import appendix_b_confidence as build_appendix_b_confidence
from reports.tables.appendix import appendix_b_perceptual as build_appendix_b_perceptual
from reports.tables.appendix import confidence_groups, perceptual_groups

N_BOOT = 200
FIVE = list(PAPER_COLUMNS.values())


def row(frame: pd.DataFrame, **match) -> pd.Series:
    hit = frame
    for key, value in match.items():
        hit = hit[hit[key] == value]
    assert len(hit) == 1, f"{match}: {len(hit)} rows"
    return hit.iloc[0]


def paper(table: str, **match) -> pd.Series:
    return row(paper_table(table), **match)


def uniform(pattern, benchmarks=BENCHMARKS):
    return {b: [bool(x) for x in pattern] for b in benchmarks}


def folder(tmp_path, runs, patterns, **kwargs):
    """A results folder where run r answers every benchmark by patterns[r]."""
    correct = {(run, b): outcomes for run, pattern in patterns.items() for b, outcomes in uniform(pattern).items()}
    root = tmp_path / "results"
    return root, write_results(root, runs, correct, benchmarks=BENCHMARKS, **kwargs)


# --- reference ------------------------------------------------------------------------------


def test_paper_tables_by_short_name_and_stem():
    assert paper_table("table2").equals(paper_table("table2_reasoning_groups"))
    assert list(paper_table("table4")["step"]) == [1, 10, 20, 30, 40, 50, 60]
    with pytest.raises(ResultError, match="table9"):
        paper_table("table9")


def test_table1_paper_rows_pick_the_geometry3k_durian_row():
    assert table1_paper_row("dapo-durian")["MathVerse"] == 51.9  # not the ViRL39K row (52.4)
    assert table1_paper_row("base")["Average"] == 53.3
    assert table1_paper_row("drgrpo") is None
    assert len(quoted_table1_rows()) == len(paper_table("table1"))
    quoted = quoted_table1_rows(["base", "grpo", "dapo-durian", "drgrpo"])
    assert len(quoted) == len(paper_table("table1")) - 3
    assert "39K (ViRL39K)" in set(quoted["data_size"]) and "+ Vanilla DAPO" in set(quoted["model"])
    assert not {"Qwen2.5-VL-7B-Instruct", "+ Vanilla GRPO"} & set(quoted["model"])


# --- table 1 --------------------------------------------------------------------------------


def test_table1_known_cells(results_folder):
    root, plan = results_folder
    frame = table1(root, plan, n_boot=N_BOOT).frame
    grpo = row(frame, source="ours", arm="grpo")
    assert grpo["seeds"] == 2 and grpo["runs"] == "grpo-s1 grpo-s2"
    for column in FIVE:
        assert grpo[f"{column}_ours"] == 62.5  # 50% and 75%, mean over two seeds
        assert grpo[f"{column}_paper"] == paper("table1", model="+ Vanilla GRPO")[column]
        assert grpo[f"{column}_diff"] == pytest.approx(62.5 - grpo[f"{column}_paper"])
        assert grpo[f"{column}_low"] <= 62.5 <= grpo[f"{column}_high"]
    assert grpo["Average_ours"] == 62.5 and grpo["Average_paper"] == 56.9
    assert grpo["Average_diff"] == pytest.approx(5.6)
    assert grpo["Geometry3K_ours"] == 62.5 and math.isnan(grpo["Geometry3K_paper"])
    assert math.isnan(grpo["Geometry3K_diff"])

    base = row(frame, source="ours", arm="base")
    assert base["model"] == "Qwen2.5-VL-7B-Instruct" and base["MathVerse_ours"] == 25.0
    assert base["MathVerse_diff"] == pytest.approx(25.0 - 46.2)
    dapo_durian = row(frame, source="ours", arm="dapo-durian")
    assert dapo_durian["model"] == "+ Durian (based on Vanilla DAPO)"
    assert dapo_durian["WeMath_ours"] == 75.0 and dapo_durian["WeMath_paper"] == 71.8


def test_table1_quotes_the_rows_we_do_not_run(results_folder):
    root, plan = results_folder
    frame = table1(root, plan, n_boot=N_BOOT).frame
    quoted = frame[frame["source"] == "quoted"]
    assert row(frame, model="GPT-4o")["source"] == "quoted"
    assert row(frame, model="GPT-4o")["MathVerse_paper"] == 50.8
    assert quoted["MathVerse_ours"].isna().all()
    assert row(quoted, data_size="39K (ViRL39K)")["Average_paper"] == 60.1
    # measured rows appear once, as ours, after all the quoted rows
    for model in ("Qwen2.5-VL-7B-Instruct", "+ Vanilla GRPO", "+ Vanilla DAPO"):
        assert row(frame, model=model)["source"] == "ours"
    assert list(frame["source"]) == ["quoted"] * len(quoted) + ["ours"] * 5


def test_table1_interval_is_degenerate_for_constant_outcomes(tmp_path):
    runs = {"grpo-s1": {"arm": "grpo", "seed": 1}, "grpo-s2": {"arm": "grpo", "seed": 2}}
    root, plan = folder(tmp_path, runs, {"base": (0, 0, 0), "grpo-s1": (1, 1, 1), "grpo-s2": (1, 1, 1)})
    frame = table1(root, plan, n_boot=N_BOOT).frame
    grpo, base = row(frame, arm="grpo"), row(frame, arm="base")
    assert (grpo["WeMath_ours"], grpo["WeMath_low"], grpo["WeMath_high"]) == (100.0, 100.0, 100.0)
    assert (base["WeMath_ours"], base["WeMath_low"], base["WeMath_high"]) == (0.0, 0.0, 0.0)


def test_table1_one_seed_three_of_four(tmp_path):
    root, plan = folder(tmp_path, {"dapo-s1": {"arm": "dapo", "seed": 1}}, {"dapo-s1": (1, 1, 1, 0)}, base_run=None)
    table = table1(root, plan, n_boot=N_BOOT)
    dapo = row(table.frame, arm="dapo")
    assert dapo["MathVista_ours"] == 75.0 and dapo["MathVista_diff"] == pytest.approx(75.0 - 70.7)
    assert dapo["MathVista_low"] < 75.0 <= dapo["MathVista_high"]
    # no base run: the paper's base-model row is quoted, not measured
    assert row(table.frame, model="Qwen2.5-VL-7B-Instruct")["source"] == "quoted"
    assert "mean over 1 seed," in table.caption


def test_table1_arm_without_paper_numbers(tmp_path):
    root, plan = folder(tmp_path, {"drgrpo-s1": {"arm": "drgrpo", "seed": 1}}, {"base": (1, 0), "drgrpo-s1": (1, 1)})
    table = table1(root, plan, n_boot=N_BOOT)
    drgrpo = row(table.frame, arm="drgrpo")
    assert drgrpo["MathVerse_ours"] == 100.0 and math.isnan(drgrpo["MathVerse_paper"])
    assert any("drgrpo" in note and "no paper numbers" in note for note in table.notes)


def test_table1_benchmark_not_in_the_plan(tmp_path):
    benchmarks = ("wemath", "geometry3k")
    correct = {(run, b): [True, False] for run in ("base", "grpo-s1") for b in benchmarks}
    root = tmp_path / "results"
    plan = write_results(root, {"grpo-s1": {"arm": "grpo", "seed": 1}}, correct)
    table = table1(root, plan, n_boot=N_BOOT)
    grpo = row(table.frame, arm="grpo")
    assert grpo["WeMath_ours"] == 50.0 and math.isnan(grpo["MathVerse_ours"]) and math.isnan(grpo["Average_ours"])
    assert any("Not evaluated" in note and "MathVerse" in note for note in table.notes)


def test_table1_caption_names_protocol_and_seeds(results_folder):
    root, plan = results_folder
    caption = table1(root, plan, n_boot=N_BOOT).caption
    for phrase in ("rules scoring", "hf backend", "greedy", "max 48 new tokens", "mean over 1-2 seeds",
                   "95% bootstrap interval over questions", "wemath (n=4)", "ours - paper in points"):
        assert phrase in caption


def test_table1_display_three_lines_per_measured_row(results_folder):
    root, plan = results_folder
    display = table1(root, plan, n_boot=N_BOOT).display
    at = display.index[display["Model"] == "+ Vanilla GRPO"][0]
    assert list(display.loc[at:at + 2, ""]) == ["ours (2 seeds)", "paper", "ours - paper"]
    assert display.loc[at, "MathVerse"].startswith("62.5 [")
    assert display.loc[at + 1, "MathVerse"] == "49.6" and display.loc[at + 2, "MathVerse"] == "+12.9"
    assert display.loc[at + 1, "Geometry3K"] == DASH


# --- protocol -------------------------------------------------------------------------------


def test_protocol_names_judge_model(tmp_path):
    judged = {"scoring": "judge", "judge_model": "gemini-2.0-flash"}
    root, plan = folder(tmp_path, {"grpo-s1": {"arm": "grpo", "seed": 1}}, {"base": (1, 0), "grpo-s1": (1, 1)},
                        eval_fields={(run, "mathverse"): judged for run in ("base", "grpo-s1")})
    line = protocol(root, plan, ["base", "grpo-s1"])
    assert "judge scoring (gemini-2.0-flash)" in line and "on mathverse (n=2)" in line
    assert "rules scoring" in line


def test_mixed_protocols_are_an_error(results_folder, tmp_path):
    fields = {("grpo-s2", "wemath"): {"generation": {"max_new_tokens": 64}}}
    root, plan = folder(tmp_path, RUNS, PATTERNS, eval_fields=fields)
    with pytest.raises(ResultError) as error:
        table1(root, plan, n_boot=N_BOOT)
    message = str(error.value)
    assert "'grpo-s2'" in message and "wemath" in message and "max 64 new tokens" in message
    assert str(root / "eval" / "grpo-s2" / "wemath.json") in message


def test_mixed_scoring_is_an_error(tmp_path):
    fields = {("grpo-s1", "mathvista"): {"scoring": "judge", "judge_model": "gpt-4o"}}
    root, plan = folder(tmp_path, {"grpo-s1": {"arm": "grpo", "seed": 1}}, {"base": (1, 0), "grpo-s1": (1, 1)},
                        eval_fields=fields)
    with pytest.raises(ResultError, match="'base' and 'grpo-s1' were evaluated under different protocols on mathvista"):
        table1(root, plan, n_boot=N_BOOT)


# --- errors: never a silently empty cell -----------------------------------------------------


def test_missing_eval_file_is_named(results_folder):
    root, plan = results_folder
    missing = root / "eval" / "dapo-s1" / "hallusionbench.json"
    missing.unlink()
    with pytest.raises(ResultError, match=f"missing result file: {missing}"):
        table1(root, plan, n_boot=N_BOOT)


def test_malformed_samples_line_is_named(results_folder):
    root, plan = results_folder
    path = root / "eval" / "grpo-s1" / "wemath.samples.jsonl"
    path.write_text(path.read_text() + '{"id": "q9", "correct": tr\n')
    with pytest.raises(ResultError, match=f"malformed JSON in {path} line 5"):
        table1(root, plan, n_boot=N_BOOT)


def test_accuracy_out_of_range_is_named(results_folder):
    root, plan = results_folder
    path = root / "eval" / "grpo-durian-s2" / "mathvision.json"
    result = json.loads(path.read_text())
    path.write_text(json.dumps({**result, "accuracy": 75.0}))
    with pytest.raises(ResultError, match=f"{path}: accuracy must be a number in"):
        table1(root, plan, n_boot=N_BOOT)


def test_samples_disagreeing_with_the_eval_json_are_an_error(results_folder):
    root, plan = results_folder
    path = root / "eval" / "dapo-s1" / "mathverse.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "accuracy": 0.75}))
    with pytest.raises(ResultError, match="says accuracy=0.75"):
        table1(root, plan, n_boot=N_BOOT)
    path.write_text(json.dumps({**json.loads(path.read_text()), "n": 5}))
    with pytest.raises(ResultError, match="4 samples, but .* says n=5"):
        table1(root, plan, n_boot=N_BOOT)


def test_seeds_on_different_questions_are_an_error(results_folder):
    root, plan = results_folder
    path = root / "eval" / "grpo-s2" / "geometry3k.samples.jsonl"
    path.write_text(path.read_text().replace('"id": "q3"', '"id": "q7"'))
    with pytest.raises(ResultError, match="'grpo-s1' and 'grpo-s2' answered different questions of geometry3k"):
        table1(root, plan, n_boot=N_BOOT)


def test_missing_target_is_named(tmp_path):
    root, plan = folder(tmp_path, {"grpo-s1": {"arm": "grpo", "seed": 1}}, {"base": (1,), "grpo-s1": (1,)})
    with pytest.raises(PlanError, match="no target 'table2_groups'"):
        table2(root, plan, n_boot=N_BOOT)
    assert available_tables(plan) == ["table1", "learning", "appendix_a", "appendix_b_perceptual",
                                      "appendix_b_confidence", "ground_truth"]


# --- significance ---------------------------------------------------------------------------


def test_significance_known_differences(results_folder):
    root, plan = results_folder
    table = significance(root, plan, n_boot=N_BOOT)
    frame = table.frame
    assert len(frame) == 4 * len(BENCHMARKS)
    grpo = row(frame, arm="grpo-durian", benchmark="wemath")
    # per question, seed-averaged: grpo-durian 1, 1, 1, .5; grpo 1, 1, .5, 0
    assert grpo["base_arm"] == "grpo" and grpo["diff_pts"] == 25.0
    assert (grpo["n_questions"], grpo["seeds"], grpo["base_seeds"]) == (4, 2, 2)
    assert grpo["low_pts"] <= 25.0 <= grpo["high_pts"]
    dapo = row(frame, arm="dapo-durian", benchmark="mathverse")
    assert dapo["diff_pts"] == 25.0 and dapo["runs"] == "dapo-durian-s1" and dapo["base_runs"] == "dapo-s1"
    perceptual = row(frame, arm="dapo-durian-perceptual", benchmark="geometry3k")
    assert perceptual["base_arm"] == "dapo" and perceptual["diff_pts"] == 0.0 and perceptual["p_value"] == 1.0
    assert (frame["p_holm"] >= frame["p_value"]).all()
    assert "2 min(#(d* <= 0) + 1, #(d* >= 0) + 1)" in " ".join(table.notes)


def test_significance_p_value_when_durian_wins_everywhere(tmp_path):
    runs = {"grpo-s1": {"arm": "grpo", "seed": 1}, "grpo-durian-s1": {"arm": "grpo-durian", "seed": 1}}
    root, plan = folder(tmp_path, runs, {"base": (0,) * 30, "grpo-s1": (0,) * 30, "grpo-durian-s1": (1,) * 30})
    frame = significance(root, plan, n_boot=499).frame
    assert (frame["diff_pts"] == 100.0).all() and (frame["p_value"] == 2 / 500).all()
    assert (frame["p_holm"] == np.minimum(1, 6 * 2 / 500)).all()


def test_significance_without_a_base_arm_is_an_explicit_empty_table(tmp_path):
    root, plan = folder(tmp_path, {"grpo-durian-s1": {"arm": "grpo-durian", "seed": 1}}, {"grpo-durian-s1": (1, 0)})
    table = significance(root, plan, n_boot=N_BOOT)
    assert table.frame.empty and "p_value" in table.frame.columns
    assert "No Durian arm with its base arm in this plan (arms: grpo-durian)" in table.caption
    assert any("no grpo runs in the plan" in note for note in table.notes)


# --- learning -------------------------------------------------------------------------------


def test_learning_each_arm_against_the_base_model(results_folder):
    root, plan = results_folder
    frame = learning(root, plan, n_boot=N_BOOT).frame
    assert list(dict.fromkeys(frame["arm"])) == ["grpo", "grpo-durian", "dapo", "dapo-durian"]
    assert len(frame) == 4 * (len(BENCHMARKS) + 1)
    # base 1, 0, 0, 0; grpo's two seeds per question 1, 1, .5, 0: 62.5% against 25%
    grpo = row(frame, arm="grpo", benchmark="mathvista")
    assert (grpo["base_pts"], grpo["arm_pts"], grpo["diff_pts"]) == (25.0, 62.5, 37.5)
    assert (grpo["n_questions"], grpo["seeds"], grpo["runs"]) == (4, 2, "grpo-s1 grpo-s2")
    pooled = row(frame, arm="grpo", benchmark="all")
    assert (pooled["diff_pts"], pooled["n_questions"]) == (37.5, 4 * len(BENCHMARKS))
    assert pooled["low_pts"] <= 37.5 <= pooled["high_pts"] and pooled["high_pts"] - pooled["low_pts"] < 60
    assert row(frame, arm="dapo", benchmark="all")["diff_pts"] == 25.0  # one seed, 1, 1, 0, 0
    assert row(frame, arm="grpo-durian", benchmark="geometry3k")["arm_pts"] == 87.5


def test_learning_pools_benchmarks_question_by_question(tmp_path):
    runs = {"grpo-s1": {"arm": "grpo", "seed": 1}}
    patterns = {"base": (0,) * 30, "grpo-s1": (1,) * 30}
    correct = {(run, b): [bool(x) for x in pattern] for run, pattern in patterns.items() for b in BENCHMARKS}
    correct[("grpo-s1", "wemath")] = [False] * 30  # one benchmark not learnt: 5 of 6 sets
    root = tmp_path / "results"
    plan = write_results(root, runs, correct, benchmarks=BENCHMARKS)
    frame = learning(root, plan, n_boot=499).frame
    assert row(frame, benchmark="wemath")["diff_pts"] == 0.0 and row(frame, benchmark="wemath")["p_value"] == 1.0
    pooled = row(frame, benchmark="all")
    assert pooled["diff_pts"] == pytest.approx(100 * 5 / 6) and pooled["n_questions"] == 30 * len(BENCHMARKS)
    assert pooled["p_value"] == 2 / 500


def test_learning_without_the_base_model_is_not_applicable(tmp_path):
    runs = {"grpo-s1": {"arm": "grpo", "seed": 1}}
    root, plan = folder(tmp_path, runs, {"grpo-s1": (1, 0)}, base_run=None)
    assert "learning" not in available_tables(plan)
    with pytest.raises(NotApplicable, match="no base model in the plan"):
        learning(root, plan, n_boot=N_BOOT)


# --- tables 2, 3, 7 ---------------------------------------------------------------------------


def test_table2_known_cells_and_a_grid_value_without_paper_row(results_folder):
    root, plan = results_folder
    table = table2(root, plan, n_boot=N_BOOT)
    frame = table.frame
    assert list(frame["groups"]) == [4, 7, 12]
    k12 = row(frame, groups=12)
    assert k12["MathVerse_ours"] == 75.0 and k12["MathVerse_paper"] == 52.3
    assert k12["MathVerse_diff"] == pytest.approx(22.7)
    assert k12["Average_paper"] == pytest.approx(np.mean(paper("table2", groups=12)[FIVE]))
    k4 = row(frame, groups=4)
    assert k4["HallusionBench_ours"] == 25.0 and k4["HallusionBench_paper"] == 66.8
    k7 = row(frame, groups=7)
    assert k7["WeMath_ours"] == 0.0 and math.isnan(k7["WeMath_paper"]) and math.isnan(k7["WeMath_diff"])
    assert any("No paper row for: groups=7" in note for note in table.notes)
    at = table.display.index[table.display["groups"] == 7][0]
    assert table.display.loc[at + 1, "WeMath"] == DASH and table.display.loc[at + 2, "WeMath"] == DASH


def test_table3_matches_weight_triples(results_folder):
    root, plan = results_folder
    frame = table3(root, plan, n_boot=N_BOOT).frame
    default = row(frame, alpha_ori=0.1, alpha_percep=0.2, alpha_reason=0.7)
    assert default["MathVision_ours"] == 75.0 and default["MathVision_paper"] == 28.6
    other = row(frame, alpha_ori=0.4, alpha_percep=0.3, alpha_reason=0.3)
    assert other["MathVerse_ours"] == 50.0 and other["MathVerse_diff"] == pytest.approx(50.0 - 51.9)


def test_table7_rollout(results_folder):
    root, plan = results_folder
    frame = table7(root, plan, n_boot=N_BOOT).frame
    assert list(frame["rollout"]) == [2, 3, 4]
    assert row(frame, rollout=2)["MathVerse_diff"] == pytest.approx(25.0 - 48.7)
    assert math.isnan(row(frame, rollout=3)["MathVerse_paper"]) and row(frame, rollout=3)["MathVerse_ours"] == 100.0
    assert row(frame, rollout=4)["MathVista_paper"] == 71.5


# --- appendix A -------------------------------------------------------------------------------


def test_appendix_a_ratio_over_effective_and_mean_over_seeds(results_folder):
    root, plan = results_folder
    table = build_appendix_a(root, plan)
    frame = table.frame
    dapo = row(frame, source="ours", arm="dapo", step=1)
    assert (dapo["effective"], dapo["extreme_success"], dapo["extreme_failure"]) == (4, 1, 2)
    assert dapo["total_extreme_ratio_pct"] == 75.0  # (1 + 2) / 4
    assert row(frame, source="ours", arm="grpo", step=2)["total_extreme_ratio_pct"] == 80.0  # (2 + 2) / 5
    quoted = row(frame, source="quoted", step=1)
    assert (quoted["effective"], quoted["extreme_success"], quoted["extreme_failure"]) == (323, 41, 78)
    assert 100 * (41 + 78) / 323 == pytest.approx(quoted["total_extreme_ratio_pct"], abs=0.05)


def test_appendix_a_two_seeds_and_zero_effective(tmp_path):
    runs = {"grpo-s1": {"arm": "grpo", "seed": 1}, "grpo-s2": {"arm": "grpo", "seed": 2}}
    def steps(effective, success, failure):
        return [{"step": 1, "prompts": 8, "effective": effective, "extreme_success": success,
                 "extreme_failure": failure, "accuracy": 0.5},
                {"step": 2, "prompts": 8, "effective": 0, "extreme_success": 0, "extreme_failure": 0, "accuracy": 1}]

    metrics = {"grpo-s1": steps(4, 1, 1), "grpo-s2": steps(6, 2, 1)}
    root, plan = folder(tmp_path, runs, {"grpo-s1": (1,), "grpo-s2": (1,)}, metrics=metrics, base_run=None)
    frame = build_appendix_a(root, plan).frame
    step1 = row(frame, source="ours", step=1)
    assert (step1["seeds"], step1["effective"], step1["extreme_success"]) == (2, 5.0, 1.5)
    assert step1["total_extreme_ratio_pct"] == 100 * (1.5 + 1.0) / 5.0
    assert math.isnan(row(frame, source="ours", step=2)["total_extreme_ratio_pct"])


def test_appendix_a_missing_metric_is_named(results_folder):
    root, plan = results_folder
    path = root / "train" / "dapo-s1" / "metrics.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "durian_stats/effective"}) + "\n"
                            for r in rows))
    with pytest.raises(ResultError, match=f"{path}: missing durian_stats/effective"):
        build_appendix_a(root, plan)


def test_appendix_a_display_thins_long_runs(tmp_path):
    steps = [{"step": s, "prompts": 4, "effective": 2, "extreme_success": 1, "extreme_failure": 0, "accuracy": .5}
             for s in range(1, 46)]
    root, plan = folder(tmp_path, {"dapo-s1": {"arm": "dapo", "seed": 1}}, {"dapo-s1": (1,)},
                        metrics={"dapo-s1": steps}, base_run=None)
    table = build_appendix_a(root, plan)
    assert len(table.frame[table.frame["source"] == "ours"]) == 45
    assert list(table.display[table.display[""] == "ours"]["Step"]) == [1, 10, 20, 30, 40, 45]


# --- appendix B -------------------------------------------------------------------------------


def test_group_conventions():
    # 25/75 quantiles of 0.1..0.4 are 0.175 and 0.325
    assert list(perceptual_groups(np.array([0.4, 0.1, 0.2, 0.3]))) == [2, 0, 1, 1]
    assert list(perceptual_groups(np.full(5, 0.3))) == [0] * 5  # all tied: the low group wins
    assert list(confidence_groups(np.array([-1.0, -0.75, -0.5, -0.25]))) == [0, 3, 6, 9]
    assert list(confidence_groups(np.arange(20.0))) == [u // 2 for u in range(20)]


def test_reports_import_no_training_or_eval_stack():
    # the group conventions above match durian.advantage: tests/reports/test_groups.py ties them
    code = ("import sys, reports.tables, reports.stats, reports.reference, reports.outcomes, reports.table; "
            "print(sorted(m for m in ('torch', 'verl', 'lmms_eval') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_appendix_b_perceptual_known_shares(results_folder):
    root, plan = results_folder
    table = build_appendix_b_perceptual(root, plan)
    frame = table.frame
    base = row(frame, source="ours", run="base", benchmark="wemath")  # wrong: q1, q2 (medium), q3 (high)
    assert (base["n"], base["wrong"], base["q25"], base["q75"]) == (4, 3, pytest.approx(0.175), pytest.approx(0.325))
    assert (base["low_pct"], base["medium_pct"], base["high_pct"]) == pytest.approx((0, 200 / 3, 100 / 3))
    grpo = row(frame, source="ours", run="grpo-s1", benchmark="mathverse")  # wrong: q2, q3
    assert (grpo["low_pct"], grpo["medium_pct"], grpo["high_pct"]) == (0.0, 50.0, 50.0)
    ours = frame[frame["source"] == "ours"]
    assert len(ours) == 7 * len(BENCHMARKS)  # base + six table-1 runs
    some_wrong = ours[ours["wrong"] > 0]  # grpo-durian-s2 answers all: its shares are NaN
    assert len(some_wrong) == 6 * len(BENCHMARKS)
    np.testing.assert_allclose(some_wrong[["low_pct", "medium_pct", "high_pct"]].sum(axis=1), 100.0)
    assert row(frame, source="quoted", benchmark="wemath")["high_pct"] == 45.1
    assert "low H <= q25" in table.caption and "rules scoring" in table.caption


def test_appendix_b_confidence_known_shares(results_folder):
    root, plan = results_folder
    frame = build_appendix_b_confidence(root, plan).frame
    base = row(frame, source="ours", run="base", benchmark="hallusionbench")  # wrong: q1 (g4), q2 (g7), q3 (g10)
    shares = base[[f"g{i}_pct" for i in range(1, 11)]].to_numpy(dtype=float)
    np.testing.assert_allclose(shares, [0, 0, 0, 100 / 3, 0, 0, 100 / 3, 0, 0, 100 / 3])
    assert row(frame, source="quoted", benchmark="hallusionbench")["g1_pct"] == 12.7


def test_appendix_b_no_wrong_answer_is_explicit(tmp_path):
    root, plan = folder(tmp_path, {"grpo-s1": {"arm": "grpo", "seed": 1}}, {"grpo-s1": (1, 1, 1)}, base_run=None)
    table = build_appendix_b_perceptual(root, plan)
    assert row(table.frame, run="grpo-s1", benchmark="wemath")[["low_pct", "medium_pct", "high_pct"]].isna().all()
    assert any("No wrong answers: grpo-s1 on mathverse" in note for note in table.notes)


def test_appendix_b_missing_entropy_is_named(results_folder):
    root, plan = results_folder
    path = root / "eval" / "dapo-durian-s1" / "wemath.samples.jsonl"
    path.write_text(path.read_text().replace('"visual_entropy": 0.2', '"visual_entropy": null'))
    with pytest.raises(ResultError, match=f"{path}: visual_entropy missing or not finite for 1 question"):
        build_appendix_b_perceptual(root, plan)


# --- files --------------------------------------------------------------------------------------


def test_build_tables_writes_every_table(results_folder, tmp_path):
    root, plan = results_folder
    out = tmp_path / "tables"
    tables = build_tables(root, plan, None, out, n_boot=N_BOOT)
    assert [t.name for t in tables] == list(TABLES)
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}.{s}" for n in TABLES for s in ("csv", "md", "tex"))
    for table in tables:
        assert table.caption and table.title in (out / f"{table.name}.md").read_text()
        assert "\\caption{" in (out / f"{table.name}.tex").read_text()
    csv = pd.read_csv(out / "table1.csv")
    assert row(csv, source="ours", arm="grpo")["MathVerse_ours"] == 62.5
    assert row(csv, source="ours", arm="grpo")["MathVerse_diff"] == pytest.approx(12.9)
    md = (out / "table2.md").read_text()
    assert f"| {DASH} |" in md and "No paper row for: groups=7" in md
    assert "---" in (out / "table2.tex").read_text() and DASH not in (out / "table2.tex").read_text()
    assert "None" not in (out / "table1.tex").read_text()  # quoted rows without a data size


def test_build_tables_refuses_unknown_names(results_folder, tmp_path):
    root, plan = results_folder
    with pytest.raises(ValueError, match="unknown table"):
        build_tables(root, plan, ["table9"], tmp_path)


def test_write_is_atomic_and_escapes(tmp_path):
    frame = pd.DataFrame({"a|b": ["x|y", None], "50%": [1.5, float("nan")]})
    table = Table("t", "T", "caption with 50% & more", frame, ["note"])
    paths = table.write(tmp_path)
    assert [p.name for p in paths] == ["t.csv", "t.md", "t.tex"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv", "t.md", "t.tex"]  # no temp files left
    assert markdown_table(frame).splitlines()[2] == "| x\\|y | 1.5 |"
    assert f"| {DASH} | {DASH} |" in markdown_table(frame)
    assert r"caption with 50\% \& more" in (tmp_path / "t.tex").read_text()


# --- honest labels and the paper's protocol (issue 12 items 6 and 7) --------------------------


def test_table1_names_the_model_and_data_actually_used(tmp_path):
    tiny = "tiny world Qwen2.5-VL (0.60M parameters)"
    runs = {"grpo-s1": {"arm": "grpo", "seed": 1}}
    fields = {("base", b): {"model": "results/smoke/world/model", "model_name": tiny} for b in BENCHMARKS}
    root, plan = folder(tmp_path, runs, {"base": (1, 0), "grpo-s1": (1, 1)}, eval_fields=fields)
    (root / "train" / "grpo-s1" / "config.yaml").write_text(
        "data:\n  train_files: results/smoke/world/data/train.parquet\n  seed: 1\n")
    table = table1(root, plan, n_boot=N_BOOT)
    base, grpo = row(table.frame, source="ours", arm="base"), row(table.frame, source="ours", arm="grpo")
    assert base["model"] == tiny and "Qwen2.5-VL-7B-Instruct" not in set(table.frame[table.frame["source"] == "ours"]
                                                                          ["model"])
    assert base["data_size"] == "none (untrained)"
    assert grpo["data_size"] == f"tiny world train split (scale {plan.scale})"
    assert f"Ours: {tiny}, trained on tiny world train split" in table.caption
    assert any("not the paper's Qwen2.5-VL-7B-Instruct" in note for note in table.notes)


def test_geometry3k_training_data_and_the_papers_protocol_are_named(tmp_path):
    runs = {"grpo-s1": {"arm": "grpo", "seed": 1}}
    root, plan = folder(tmp_path, runs, {"base": (1, 0), "grpo-s1": (1, 1)})
    (root / "train" / "grpo-s1" / "config.yaml").write_text(
        "data:\n  train_files: data/geometry3k/train.parquet\n  seed: 1\n")
    table = table1(root, plan, n_boot=N_BOOT)
    assert row(table.frame, source="ours", arm="base")["model"] == "Qwen2.5-VL-7B-Instruct"
    assert row(table.frame, source="ours", arm="grpo")["data_size"] == f"Geometry3K train (scale {plan.scale})"
    for phrase in ("NoisyRollout's protocol", "Gemini-2.0-Flash judge for MathVerse, MathVista, MathVision and WeMath",
                   "HallusionBench by the last \\boxed{} only", "full test set (3,040 questions)"):
        assert phrase in table.caption, phrase
    assert "Geometry 3K" not in table.caption and "Geo3K" not in table.caption


def test_protocol_names_the_split_and_extraction_used(tmp_path):
    strict = {"extraction": "strict", "split": "image"}
    full = {"split": "test", "extraction": "lenient"}
    fields = {**{(run, "hallusionbench"): strict for run in ("base", "grpo-s1")},
              **{(run, "mathvision"): full for run in ("base", "grpo-s1")},
              **{(run, "wemath"): {"skipped": 1} for run in ("base", "grpo-s1")}}
    root, plan = folder(tmp_path, {"grpo-s1": {"arm": "grpo", "seed": 1}}, {"base": (1, 0), "grpo-s1": (1, 1)},
                        eval_fields=fields)
    line = protocol(root, plan, ["base", "grpo-s1"])
    assert "rules scoring (strict extraction)" in line and "split image on hallusionbench (n=2)" in line
    assert "split test on mathvision (n=2)" in line and "wemath (n=2, 1 bad rows left out)" in line
    mixed = {("grpo-s1", "hallusionbench"): {"extraction": "strict"}}
    root, plan = folder(tmp_path / "mixed", {"grpo-s1": {"arm": "grpo", "seed": 1}},
                        {"base": (1, 0), "grpo-s1": (1, 1)}, eval_fields=mixed)
    with pytest.raises(ResultError, match="different protocols on hallusionbench"):
        protocol(root, plan, ["base", "grpo-s1"])

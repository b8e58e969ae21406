"""reports.tables.truth: difficulty against the world's ground truth, on results folders whose answers
and clutter levels are known, and its absence where the benchmarks are real."""

import dataclasses
import json
import math

import numpy as np
import pandas as pd
import pytest
from reports_fixtures import BENCHMARKS, write_results

from durian.world import task
from reports.build import build
from reports.results import NotApplicable, ResultError
from reports.tables.truth import ground_truth, spearman_ci, thought_count

N_BOOT = 200
# eight questions per benchmark: clutter 0 0 1 1 2 2 3 4, base right on the first three only,
# grpo (two seeds) also on questions 3 and 4 for seed 1; entropy = clutter / 10, confidence rising
CLUTTER = [0, 0, 1, 1, 2, 2, 3, 4]
BASE = [1, 1, 1, 0, 0, 0, 0, 0]
GRPO = {1: [1, 1, 1, 1, 1, 0, 0, 0], 2: [1, 1, 1, 0, 0, 0, 0, 0]}
RUNS = {f"grpo-s{seed}": {"arm": "grpo", "seed": seed} for seed in GRPO}


def results(tmp_path, truth=True):
    correct, entropy, confidence = {}, {}, {}
    for benchmark in BENCHMARKS:
        for run, pattern in [("base", BASE)] + [(f"grpo-s{s}", p) for s, p in GRPO.items()]:
            correct[run, benchmark] = [bool(x) for x in pattern]
            entropy[run, benchmark] = [c / 10 for c in CLUTTER]
            confidence[run, benchmark] = [-1 + i / 8 for i in range(8)]
    root = tmp_path / "results"
    plan = write_results(root, RUNS, correct, benchmarks=BENCHMARKS, entropy=entropy, confidence=confidence,
                         truth={b: CLUTTER for b in BENCHMARKS} if truth else {})
    return root, plan


def value(frame: pd.DataFrame, arm: str, measure: str, level: str = "") -> float:
    hit = frame[(frame["arm"] == arm) & (frame["measure"] == measure) & (frame["level"] == level)]
    assert len(hit) == 1, (arm, measure, level, len(hit))
    return float(hit["value"].iloc[0])


def test_error_rates_by_clutter_and_the_rank_correlation_are_the_hand_counted_ones(tmp_path):
    root, plan = results(tmp_path)
    frame = ground_truth(root, plan, n_boot=N_BOOT).frame
    by_clutter = "error % by clutter"
    # base: clutter 0 -> 0 of 2 wrong, 1 -> 1 of 2, 2 -> 2 of 2, 3 and 4 -> all wrong
    assert [value(frame, "base", by_clutter, str(c)) for c in range(5)] == [0.0, 50.0, 100.0, 100.0, 100.0]
    # grpo, seeds pooled: clutter 1 -> 1 of 4 wrong, 2 -> 3 of 4
    assert [value(frame, "grpo", by_clutter, str(c)) for c in range(5)] == [0.0, 25.0, 75.0, 100.0, 100.0]
    n = frame[(frame["arm"] == "grpo") & (frame["measure"] == by_clutter)]["n"].tolist()
    assert n == [4 * len(BENCHMARKS)] * 3 + [2 * len(BENCHMARKS)] * 2
    # entropy is a monotone function of clutter here: rho is 1 and so is every resample's
    rho = frame[(frame["arm"] == "base") & frame["measure"].str.startswith("Spearman")].iloc[0]
    assert rho["value"] == pytest.approx(1.0) and rho["ci_low"] == pytest.approx(1.0)
    # entropy groups per benchmark: Q25 = 0.075, Q75 = 0.225 -> low = clutter 0 (2 right), high = 3 and 4
    assert value(frame, "base", "error % by entropy group", "low") == 0.0
    assert value(frame, "base", "error % by entropy group", "high") == 100.0
    # the least confident quartile holds questions 0 and 1 (both right), the most confident 6 and 7
    assert value(frame, "base", "error % by confidence quartile", "Q1") == 0.0
    assert value(frame, "base", "error % by confidence quartile", "Q4") == 100.0
    # the counting questions are the odd ones (3 shapes each): base right on question 1 only
    assert value(frame, "base", "error % by number of shapes", "3") == 75.0
    interval = frame[(frame["arm"] == "base") & (frame["level"] == "1") & (frame["measure"] == by_clutter)].iloc[0]
    assert interval["ci_low"] < 50.0 < interval["ci_high"]


def test_spearman_interval_brackets_a_known_correlation():
    rng = np.random.default_rng(3)
    x = rng.normal(size=400)
    y = x + rng.normal(size=400)  # rho about 0.68
    rho, low, high = spearman_ci(x, y, n_boot=300)
    assert 0.6 < rho < 0.76 and low < rho < high and high - low < 0.15
    assert math.isnan(spearman_ci(np.ones(5), np.arange(5.0), n_boot=10)[0])


def test_real_benchmarks_have_no_ground_truth_and_the_report_says_so(tmp_path):
    root, plan = results(tmp_path, truth=False)
    with pytest.raises(NotApplicable, match="no ground truth"):
        ground_truth(root, plan, n_boot=N_BOOT)
    built = build(root, scope="table1", out_dir=tmp_path / "out", n_boot=N_BOOT, report_name="report.html")
    assert set(built["skipped"]) == {"ground_truth", "ground_truth_difficulty"}
    assert "table1" in built["tables"] and "no ground truth" in built["report"].read_text()


def test_a_truth_file_that_does_not_match_the_evaluation_is_named(tmp_path):
    root, plan = results(tmp_path)
    (root / "fixtures" / "truth" / "wemath.jsonl").write_text('{"doc_id": 0, "kind": "count", "clutter": 0, "value": 1}\n')
    with pytest.raises(ResultError, match=r"doc_id \[1, 2, 3, 4, 5\] not in .*wemath.jsonl"):
        ground_truth(root, plan, n_boot=N_BOOT)


def test_the_count_a_thought_states_splits_errors_into_counting_and_answering(tmp_path):
    """Base run on MathVerse (every true count 3, right on questions 0-2): written by hand, questions
    1-3 state the true count, 4-6 another, 0 and 7 none (as do all other sets' answers, bare boxes).
    So 1 of the 3 answers after a right count is wrong (question 3), and all 3 after a wrong one."""
    root, plan = results(tmp_path)
    path = root / "eval" / "base" / "mathverse.samples.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    thoughts = ["I count 3. <think></think> There are 3 shapes.", "<think>There are 3 shapes.</think>",
                "<think>Options. It has 3 sides: (B).</think>",
                "<think>Claim 2. There are 3 shapes, so no.</think>", "<think>There are 4 shapes.</think>",
                "<think>It has 5 sides.</think>", "<think>Claim 3. It has 30 sides, so no.</think>",
                "<think>There were 3.</think>"]
    for row, thought in zip(rows, thoughts):
        row["prediction"] = f"{thought} {row['prediction']}"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    frame = ground_truth(root, plan, n_boot=N_BOOT).frame
    by_thought = frame[frame["measure"] == "error % by the thought's count"]
    mine = by_thought[by_thought["arm"] == "base"].set_index("level")
    assert mine.loc["true count", "n"] == 3 and mine.loc["true count", "value"] == pytest.approx(100 / 3)
    assert mine.loc["other count", "n"] == 3 and mine.loc["other count", "value"] == 100.0
    assert mine.loc["no count", "n"] == 2 + 8 * (len(BENCHMARKS) - 1)
    assert "other count" not in set(by_thought[by_thought["arm"] == "grpo"]["level"])


def test_the_worlds_own_responses_are_read_whatever_their_form():
    """Every form and kind of the world's worked answers, the true count and another one; the number a
    yes/no question claims is never taken for the count."""
    examples = task.make_split(0, "val", 12, 112)
    assert {(e.form, e.kind) for e in examples} == {(f, k) for f in task.FORMS for k in task.RANGES}
    for e in examples:
        assert thought_count(e.response(), e.value) == "true count", e.response()
        other = dataclasses.replace(e, value=e.value + 1, shown=e.value if e.shown is not None else None)
        assert thought_count(other.response(), e.value) == "other count", other.response()
    assert thought_count(None, 3) is None

"""Figures from a written results folder (``results_folder``: see tests/support/reports_fixtures.py for who
answered what): the files, and what is drawn in them."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET

import matplotlib.image
import numpy as np
import pytest
from matplotlib.container import BarContainer, ErrorbarContainer

from durian import experiment
from durian.experiment import BASE_COLOUR, BASE_RUN
from reports import figures
from reports.figures import CURVES, FIGURES, arm_colour, caption, save
from reports.reference import paper_table
from reports.results import ResultError

TABLE1_ARMS = ["grpo", "grpo-durian", "dapo", "dapo-durian"]


def ours(ax) -> list[tuple[list, list]]:
    """(x, y) of each errorbar series (ours) in a sweep panel."""
    return [(list(c.lines[0].get_xdata()), list(c.lines[0].get_ydata()))
            for c in ax.containers if isinstance(c, ErrorbarContainer)]


def labelled(ax) -> dict[str, object]:
    return {line.get_label(): line for line in ax.get_lines() if not line.get_label().startswith("_")}


@pytest.mark.parametrize("name", list(FIGURES))
def test_each_figure_writes_a_png_and_an_svg(results_folder, tmp_path, name):
    root, plan = results_folder
    paths = save(FIGURES[name](root, plan), tmp_path / "figures", name)
    assert [p.name for p in paths] == [f"{name}.png", f"{name}.svg"]
    image = matplotlib.image.imread(paths[0])
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 400
    assert image[..., :3].std() > 0.05  # not a blank canvas
    svg = ET.parse(paths[1]).getroot()
    assert svg.tag.endswith("svg") and len(list(svg.iter())) > 50
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == sorted(p.name for p in paths)  # no temp left
    assert caption(name) and "``" not in caption(name)


def test_save_is_deterministic_and_overwrites(results_folder, tmp_path):
    root, plan = results_folder
    first = [p.read_bytes() for p in save(figures.fig4_entropy(root, plan), tmp_path, "fig4_entropy")]
    second = [p.read_bytes() for p in save(figures.fig4_entropy(root, plan), tmp_path, "fig4_entropy")]
    assert first == second


def test_fig3_ablation_bars_and_gains(results_folder):
    root, plan = results_folder
    ax = figures.fig3_ablation(root, plan).axes[0]
    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert len(bars) == 4 and all(len(c) == 6 for c in bars)  # 4 arms x 6 benchmarks
    heights = {c.get_label(): [round(b.get_height(), 6) for b in c] for c in bars}
    assert heights == {"dapo": [50.0] * 6, "dapo-durian": [75.0] * 6,
                       "dapo-durian-perceptual": [50.0] * 6, "dapo-durian-reasoning": [50.0] * 6}
    assert [t.get_text() for t in ax.texts] == ["+25.0"] * 6 + ["+0.0"] * 12  # gains over dapo
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "MathVerse", "MathVista", "MathVision", "WeMath", "HallusionBench", "geometry3k"]
    colours = {c.get_label(): c[0].get_facecolor() for c in bars}
    assert colours["dapo-durian"] == pytest.approx(matplotlib.colors.to_rgba(experiment.arm("dapo-durian").colour))


def test_fig4_entropy_thresholds_and_density(results_folder):
    root, plan = results_folder
    ax = figures.fig4_entropy(root, plan).axes[0]
    verticals = sorted(line.get_xdata()[0] for line in ax.get_lines())
    assert verticals == pytest.approx([0.2875, 0.7625])  # the file's q25, q75
    assert "Q25" in ax.get_title() and "Q75" in ax.get_title()
    (stairs,) = [p for p in ax.patches if type(p).__name__ == "StepPatch"]
    density = stairs.get_data().values
    edges = stairs.get_data().edges
    assert np.sum(density * np.diff(edges)) == pytest.approx(1.0)  # counts [10, 10] over [0.05, 0.525, 1.0]


def test_fig4_entropy_from_values_without_counts(results_folder):
    root, plan = results_folder
    path = root / "data" / "train.entropy.json"
    summary = json.loads(path.read_text())
    del summary["histogram"]["counts"]
    path.write_text(json.dumps(summary))
    stairs = [p for p in figures.fig4_entropy(root, plan).axes[0].patches if type(p).__name__ == "StepPatch"]
    assert stairs[0].get_data().values.sum() > 0


def test_fig4_entropy_missing_file_names_it(results_folder):
    root, plan = results_folder
    (root / "data" / "train.entropy.json").unlink()
    with pytest.raises(ResultError, match="train.entropy.json"):
        figures.fig4_entropy(root, plan)


def test_training_curves_one_line_per_arm_and_a_band_over_seeds(results_folder):
    root, plan = results_folder
    fig = figures.training_curves(root, plan)
    assert [ax.get_title() for ax in fig.axes] == list(CURVES)
    for ax in fig.axes:
        lines = labelled(ax)
        assert [label.split(" (")[0] for label in lines] == TABLE1_ARMS
        assert len(ax.collections) == 2  # min-max bands: grpo and grpo-durian have two seeds
        for arm, line in zip(TABLE1_ARMS, lines.values()):
            assert line.get_color() == arm_colour(arm)
            assert list(line.get_xdata()) == [1, 2]
    reward, accuracy, extreme, lone, other = (list(labelled(ax).values())[0].get_ydata() for ax in fig.axes)
    assert list(reward) == pytest.approx([0.1 + 0.9 * 0.25, 0.1 + 0.9 * 0.5])
    assert list(accuracy) == pytest.approx([25.0, 50.0])
    assert list(extreme) == pytest.approx([100 * 3 / 8, 100 * 4 / 8])  # (success + failure) / prompts
    assert list(lone) == pytest.approx([2.0, 1.5]) and list(other) == pytest.approx([0.5, 0.75])  # not x 100
    assert "grpo (2 seeds)" in [t.get_text() for t in fig.legends[0].get_texts()]


def test_a_run_without_advantage_statistics_leaves_a_gap(results_folder):
    """Runs trained before the advantage statistics were logged (or without an extreme prompt) plot
    nothing in those two panels; the others are unchanged."""
    root, plan = results_folder
    path = root / "train" / "dapo-s1" / "metrics.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps({k: v for k, v in r.items() if "advantage" not in k}) + "\n" for r in rows))
    fig = figures.training_curves(root, plan)
    dapo = {ax.get_title(): list(labelled(ax).values())[TABLE1_ARMS.index("dapo")].get_ydata() for ax in fig.axes}
    assert all(math.isnan(v) for v in dapo["|Advantage|, extreme prompts' lone rollout"])
    assert list(dapo["Rollout accuracy (%)"]) == pytest.approx([25.0, 50.0])


def test_training_curves_missing_metric_names_the_file(results_folder):
    root, plan = results_folder
    path = root / "train" / "dapo-s1" / "metrics.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "critic/score/mean"}) + "\n" for r in rows))
    with pytest.raises(ResultError, match=r"dapo-s1/metrics.jsonl: no metric critic/score/mean"):
        figures.training_curves(root, plan)


@pytest.mark.parametrize("name, paper, key, expected", [
    ("table2_sweep", "table2", "groups", ([4, 7, 12], [25.0, 0.0, 75.0])),
    ("table7_sweep", "table7", "rollout", ([2, 3, 4], [25.0, 100.0, 75.0])),
])
def test_numeric_sweeps_ours_and_the_paper(results_folder, name, paper, key, expected):
    root, plan = results_folder
    fig = FIGURES[name](root, plan)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == [
        "MathVerse", "MathVista", "MathVision", "WeMath", "HallusionBench", "geometry3k"]
    reference = paper_table(paper)
    for ax in visible:
        assert ours(ax) == [expected]
        lines = labelled(ax)
        if ax.get_title() == "geometry3k":
            assert "paper" not in lines  # in-domain: the paper has no number
        else:
            assert list(lines["paper"].get_xdata()) == list(reference[key])
            assert list(lines["paper"].get_ydata()) == list(reference[ax.get_title()])
            assert lines["paper"].get_linestyle() == "--"


def test_table3_sweep_is_categorical_over_the_weight_triples(results_folder):
    root, plan = results_folder
    ax = figures.table3_sweep(root, plan).axes[0]
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks[:2] == ["0.1/0.2/0.7", "0.4/0.3/0.3"] and len(ticks) == 7  # ours, then the paper's others
    assert ours(ax) == [([0, 1], [75.0, 50.0])]
    assert len(labelled(ax)["paper"].get_xdata()) == 7


def test_appendix_b_errors_lines_per_arm_and_paper_benchmark(results_folder):
    root, plan = results_folder
    fig = figures.appendix_b_errors(root, plan)
    perceptual, confidence = fig.axes
    expected = ["base", *TABLE1_ARMS, "paper, WeMath", "paper, HallusionBench"]
    assert list(labelled(perceptual)) == expected and list(labelled(confidence)) == expected
    assert [t.get_text() for t in perceptual.get_xticklabels()] == ["low", "medium", "high"]
    assert len(confidence.get_xticklabels()) == 10
    # base answers q0 only: its wrong answers are q1..q3 (entropy 0.2, 0.3, 0.4: medium, medium, high)
    assert list(labelled(perceptual)["base"].get_ydata()) == pytest.approx([0.0, 200 / 3, 100 / 3])
    assert list(labelled(perceptual)["paper, WeMath"].get_ydata()) == [23.6, 31.3, 45.1]


def test_arm_colours_are_fixed_and_unknown_arms_get_a_stable_one():
    registered = {name: spec.colour for name, spec in experiment.arms().items()}
    assert arm_colour("grpo") == registered["grpo"] and arm_colour(BASE_RUN) == BASE_COLOUR
    assert all(arm_colour(name) == colour for name, colour in registered.items())
    assert len({*registered.values(), BASE_COLOUR}) == len(registered) + 1  # one colour per arm
    # stable by name, across processes too (no hash seed): sum of its code points 2069 % 6 spares = 5
    assert arm_colour("an-arm-not-registered") == "#5254a3" == figures.SPARE_COLOURS[5]
    assert arm_colour("an-arm-not-registered") not in {*registered.values(), BASE_COLOUR}
    assert not set(figures.SPARE_COLOURS) & {*registered.values(), BASE_COLOUR}


def test_registries_agree():
    assert set(figures.FIGURE_TARGETS) == set(FIGURES) == set(figures.TITLES)


def test_appendix_b_errors_draws_the_tables_it_is_given(results_folder):
    root, plan = results_folder
    from reports.tables.appendix import appendix_b_confidence, appendix_b_perceptual

    perceptual = appendix_b_perceptual(root, plan)
    perceptual.frame.loc[perceptual.frame["arm"] == "base", ["low_pct", "medium_pct", "high_pct"]] = [10.0, 20.0, 70.0]
    fig = figures.appendix_b_errors(root, plan, tables={"appendix_b_perceptual": perceptual,
                                                        "appendix_b_confidence": appendix_b_confidence(root, plan)})
    assert list(labelled(fig.axes[0])["base"].get_ydata()) == [10.0, 20.0, 70.0]

"""The two verl.plugins entry points: registered, installing their steps in order, each step guarded
(one failing is reported loudly on stderr and the others still install)."""

import importlib
import logging
import os
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points

import pytest
import verl  # noqa: F401  (loads the plugins, as in a run)
from transformers.image_processing_utils import BaseImageProcessor
from transformers.processing_utils import ProcessorMixin
from verl.trainer.ppo import core_algos, ray_trainer
from verl.utils import tensordict_utils

from durian.recipe import (
    estimators,
    image_memo,
    installer,
    patches,
    plugin,
    token_check,
)
from durian.world import plugin as world_plugin


def test_both_entry_points_are_registered():
    found = {ep.name: ep.value for ep in entry_points(group="verl.plugins")}
    assert found["durian"] == "durian.recipe.plugin" and found["durian_world"] == "durian.world.plugin"
    assert plugin.STEPS == ("durian.recipe.patches", "durian.recipe.estimators", "durian.recipe.trainer",
                            "durian.recipe.token_check", "durian.recipe.image_memo")
    assert world_plugin.STEPS == ("durian.world.cpu_platform", "durian.world.hf_rollout", "durian.world.logprobs")


def test_one_failing_install_is_reported_and_the_others_still_install(monkeypatch, caplog):
    # undo what the entry point installed, so that the steps after the failing one must install again
    unwrapped = ray_trainer.compute_advantage.__durian_wraps__
    monkeypatch.setattr(ray_trainer, "compute_advantage", unwrapped)
    monkeypatch.setattr(tensordict_utils, patches._NAME, patches.ORIGINAL)
    monkeypatch.setattr(ProcessorMixin, "_check_special_mm_tokens", token_check.original())
    monkeypatch.setattr(BaseImageProcessor, "__call__", image_memo.original())
    monkeypatch.setattr(core_algos, "ADV_ESTIMATOR_REGISTRY", dict(core_algos.ADV_ESTIMATOR_REGISTRY))
    core_algos.ADV_ESTIMATOR_REGISTRY.pop("durian")

    order = []
    for name in plugin.STEPS:
        module = importlib.import_module(name)
        monkeypatch.setattr(module, "install", lambda name=name, run=module.install: (order.append(name), run())[1])

    def broken() -> None:
        order.append("durian.recipe.estimators")
        raise RuntimeError("estimators broke")

    monkeypatch.setattr(estimators, "install", broken)
    with caplog.at_level(logging.ERROR, logger="durian.plugin"):
        failed = plugin.install()

    assert order == list(plugin.STEPS)  # explicit order; the failure stopped nothing after it
    assert list(failed) == ["durian.recipe.estimators"] and str(failed["durian.recipe.estimators"]) == "estimators broke"
    assert hasattr(ray_trainer.compute_advantage, "__durian_wraps__")  # the trainer installed
    assert getattr(tensordict_utils, patches._NAME) is patches.maybe_fix_3d_position_ids  # the patch installed
    assert ProcessorMixin._check_special_mm_tokens is token_check.check_special_mm_tokens  # so did the later steps
    assert BaseImageProcessor.__call__ is image_memo.remembered_call
    assert "durian" not in core_algos.ADV_ESTIMATOR_REGISTRY  # the broken step did not
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "durian.recipe.estimators.install() failed" in record.getMessage()
    assert record.exc_info[1] is failed["durian.recipe.estimators"]


@pytest.mark.parametrize("platform", ["cpu", ""])
def test_the_world_plugins_logprobs_step_installs_on_the_cpu_platform_only(platform):
    script = textwrap.dedent(
        """
        import verl
        from verl.utils import torch_functional
        print(torch_functional.logprobs_from_logits_v2.__module__)
        """
    )
    env = {**os.environ, "VERL_PLATFORM": platform, "VERL_USE_EXTERNAL_MODULES": "durian.world.plugin"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    expected = "durian.world.logprobs" if platform else "verl.utils.torch_functional"
    assert result.stdout.strip().splitlines()[-1] == expected


def test_a_failing_step_is_printed_on_stderr_with_its_traceback(tmp_path):
    (tmp_path / "h1_broken_step.py").write_text("def install():\n    raise ValueError('no such platform')\n")
    (tmp_path / "h1_fine_step.py").write_text("installed = []\ndef install():\n    installed.append(1)\n")
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        from durian.recipe.installer import install_steps
        import h1_fine_step
        failed = install_steps("test", ["h1_broken_step", "h1_fine_step"])
        assert list(failed) == ["h1_broken_step"] and h1_fine_step.installed == [1]
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "verl plugin 'test': h1_broken_step.install() failed" in result.stderr
    assert "ValueError: no such platform" in result.stderr  # the traceback, not just a line
    assert installer.log.name == "durian.plugin"

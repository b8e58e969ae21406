"""The Durian estimators inside verl 0.9.1's real advantage step, legacy and v1 trainers.

Batches are built by hand prompt-major, then their rows are shuffled (as verl's balance_batch
does); expected values are computed on the prompt-major grid, independently of the code's own
regrouping. The v1 trainer runs against a minimal in-memory stand-in for the TransferQueue
(``FakeTQ``: kv_batch_get / kv_batch_put only, packing fields with TransferQueue's own packer).
"""

import importlib.metadata
import inspect
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
import verl  # first, as in a run: loads the plugins
from omegaconf import OmegaConf
from verl import DataProto
from verl.trainer.ppo import core_algos, ray_trainer
from verl.trainer.ppo.v1 import PPOTrainerSync, get_trainer_cls, trainer_base
from verl.trainer.ppo.v1 import utils as v1_utils
from verl.trainer.ppo.v1.replay_buffer import ReplayBuffer, ReplayBufferAsync

from durian import experiment
from durian.advantage import ablation_weights, durian_advantage, perceptual_groups, reasoning_groups
from durian.recipe import estimators, inputs, plugin
from durian.recipe import trainer as durian_trainer
from durian.recipe.trainer import DurianTrainer

plugin.install()

G = 8  # rollouts per prompt
WIDTH = 12  # padded response length
REWARDS = torch.tensor([0.0, 0.1, 0.9, 1.0])


class Batch:
    """A hand-built batch: the prompt-major grid and the shuffled DataProto made from it."""

    def __init__(self, seed: int, num_prompts: int = 8):
        gen = torch.Generator().manual_seed(seed)
        b = num_prompts
        self.scores = REWARDS[torch.randint(0, 4, (b, G), generator=gen)]
        self.scores[0] = 1.0  # a prompt solved by every rollout: zero advantage
        self.entropy = torch.rand(b, generator=gen, dtype=torch.float64) * 5
        lengths = torch.randint(1, WIDTH + 1, (b * G,), generator=gen)
        self.mask = (torch.arange(WIDTH) < lengths.unsqueeze(1)).long()
        self.old_log_probs = -torch.rand(b * G, WIDTH, generator=gen) * 3
        # eq. 14-15 by hand: the mean over rollouts of each rollout's mean token log-prob
        per_rollout = (self.old_log_probs * self.mask).sum(1) / self.mask.sum(1)
        self.confidence = per_rollout.view(b, G).mean(1).double()
        self.uids = np.array([f"prompt-{k}" for k in range(b)], dtype=object)
        self.perm = torch.randperm(b * G, generator=gen)  # row r of the batch is grid row perm[r]

    def dataproto(self, extra_info: bool = True, old_log_probs: bool = True) -> DataProto:
        rows = self.perm
        flat = self.scores.reshape(-1)[rows]
        mask = self.mask[rows]
        rewards = torch.zeros(len(rows), WIDTH)
        rewards[torch.arange(len(rows)), mask.sum(1) - 1] = flat  # reward at the last valid token
        tensors = {"token_level_rewards": rewards, "response_mask": mask}
        if old_log_probs:
            tensors["old_log_probs"] = self.old_log_probs[rows]
        prompt = rows // G
        non_tensors = {"uid": self.uids[prompt]}
        if extra_info:
            infos = [{"index": int(k), "visual_entropy": float(self.entropy[k])} for k in prompt]
            non_tensors["extra_info"] = np.array(infos, dtype=object)
        return DataProto.from_dict(tensors=tensors, non_tensors=non_tensors)

    def expected(self, grid: torch.Tensor) -> torch.Tensor:
        """Per-row token advantages of a [B, G] advantage grid, in the shuffled row order."""
        return grid.reshape(-1)[self.perm].unsqueeze(1) * self.mask[self.perm]


def algorithm(estimator: str, **durian) -> OmegaConf:
    node = {"adv_estimator": estimator, "norm_adv_by_std_in_grpo": True}
    if durian:
        node["durian"] = durian
    return OmegaConf.create(node)


def run(data: DataProto, estimator: str, **durian) -> DataProto:
    # ray_trainer.compute_advantage looked up at call time, as RayPPOTrainer.fit does.
    return ray_trainer.compute_advantage(
        data, adv_estimator=estimator, num_repeat=G, norm_adv_by_std_in_grpo=True, config=algorithm(estimator, **durian)
    )


# ---------------------------------------------------------------- the hooks themselves


def test_pinned_verl_still_has_the_call_sites_we_hook():
    assert importlib.metadata.version("verl") == "0.9.1", "re-check every hook in durian/recipe/trainer.py"
    legacy = inspect.getsource(ray_trainer.compute_advantage.__durian_wraps__)
    assert "adv_estimator_fn = core_algos.get_adv_estimator_fn(adv_estimator)" in legacy
    assert '"config": config' in legacy and 'adv_kwargs["index"] = data.non_tensor_batch["uid"]' in legacy
    fit = inspect.getsource(ray_trainer.RayPPOTrainer.fit)
    assert "batch = compute_advantage(" in fit and "compute_data_metrics(batch=batch" in fit
    assert "config=self.config.algorithm" in fit
    v1_step = inspect.getsource(trainer_base.PPOTrainer._compute_advantage)
    assert "tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id, select_fields=fields)" in v1_step
    assert "data = compute_advantage_for_multi_trajectories(" in v1_step and "config=self.config.algorithm" in v1_step
    multi = inspect.getsource(v1_utils.compute_advantage_for_multi_trajectories)
    assert "if adv_estimator != core_algos.AdvantageEstimator.GRPO:\n        return compute_advantage(" in multi
    init = inspect.getsource(trainer_base.PPOTrainer.__init__)
    assert "self.trainer_mode = self.config.trainer.v1.trainer_mode" in init
    assert 'self.trainer_mode == "sync"' in inspect.getsource(trainer_base.PPOTrainer)
    from verl.trainer import main_ppo

    assert "get_trainer_cls(config.trainer.v1.trainer_mode)" in inspect.getsource(main_ppo.TaskRunnerV1.run)


def test_install_is_idempotent_and_registers_everything():
    plugin.install()
    assert set(experiment.DURIAN_ESTIMATORS) <= set(estimators.ESTIMATORS)  # every Durian estimator exists
    for name, fn in estimators.ESTIMATORS.items():
        assert core_algos.get_adv_estimator_fn(name) is fn
    assert get_trainer_cls("durian") is DurianTrainer
    for name in ("compute_advantage", "compute_data_metrics"):
        wrapper = getattr(ray_trainer, name)
        assert not hasattr(wrapper.__durian_wraps__, "__durian_wraps__"), f"{name} wrapped twice"


def test_install_works_while_verl_is_still_initialising(tmp_path):
    # VERL_USE_EXTERNAL_MODULES is imported inside verl/__init__.py just before the plugins are,
    # and unlike a plugin its import errors are not swallowed.
    (tmp_path / "durian_boot_probe.py").write_text("import durian.recipe.plugin\n")
    probe = textwrap.dedent(
        """
        import verl
        from verl.trainer.ppo.core_algos import ADV_ESTIMATOR_REGISTRY
        from verl.trainer.ppo.v1 import get_trainer_cls
        from verl.trainer.ppo import ray_trainer
        assert "durian" in ADV_ESTIMATOR_REGISTRY and get_trainer_cls("durian").__name__ == "DurianTrainer"
        assert hasattr(ray_trainer.compute_advantage, "__durian_wraps__")
        """
    )
    env = dict(os.environ, VERL_USE_EXTERNAL_PLUGINS="none", VERL_USE_EXTERNAL_MODULES="durian_boot_probe")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH")]))
    command = [sys.executable, "-W", "ignore", "-c", probe]
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-3000:]


# ---------------------------------------------------------------- legacy trainer: real compute_advantage


@pytest.mark.parametrize("estimator", ["durian", "durian_perceptual", "durian_reasoning"])
def test_durian_equals_the_direct_computation_on_shuffled_rows(estimator):
    batch = Batch(seed=1)
    weights = (0.2, 0.3, 0.5)
    out = run(batch.dataproto(), estimator, weights=list(weights), num_reasoning_groups=3)
    ablation = estimator.removeprefix("durian_") if estimator != "durian" else None
    used = weights if ablation is None else ablation_weights(weights, ablation)
    grid = durian_advantage(batch.scores, batch.entropy, batch.confidence, used, num_reasoning_groups=3)
    torch.testing.assert_close(out.batch["advantages"], batch.expected(grid))
    torch.testing.assert_close(out.batch["returns"], out.batch["advantages"])
    assert out.batch["advantages"].abs().sum() > 0


def test_durian_differs_from_grpo_and_reduces_to_it_with_weights_1_0_0():
    batch = Batch(seed=2)
    grpo = run(batch.dataproto(), "grpo").batch["advantages"]
    durian = run(batch.dataproto(), "durian").batch["advantages"]
    assert not torch.allclose(durian, grpo, atol=1e-3)
    only_grpo = run(batch.dataproto(), "durian", weights=[1.0, 0.0, 0.0]).batch["advantages"]
    torch.testing.assert_close(only_grpo, grpo, atol=1e-5, rtol=1e-5)


def test_ablations_drop_the_right_term():
    batch = Batch(seed=3)
    other = Batch(seed=3)
    other.old_log_probs = -torch.rand(other.old_log_probs.shape, generator=torch.Generator().manual_seed(9)) * 3
    shuffled_entropy = Batch(seed=3)
    shuffled_entropy.entropy = batch.entropy.flip(0)

    def advantages(b: Batch, estimator: str) -> torch.Tensor:
        return run(b.dataproto(), estimator, num_reasoning_groups=3).batch["advantages"]

    # "+perceptual" never reads the log-probs, "+reasoning" never reads the entropy; Durian reads both
    torch.testing.assert_close(advantages(other, "durian_perceptual"), advantages(batch, "durian_perceptual"))
    torch.testing.assert_close(advantages(shuffled_entropy, "durian_reasoning"), advantages(batch, "durian_reasoning"))
    assert not torch.allclose(advantages(other, "durian"), advantages(batch, "durian"))
    assert not torch.allclose(advantages(shuffled_entropy, "durian"), advantages(batch, "durian"))
    assert not torch.allclose(advantages(other, "durian_reasoning"), advantages(batch, "durian_reasoning"))
    assert not torch.allclose(advantages(shuffled_entropy, "durian_perceptual"), advantages(batch, "durian_perceptual"))


def test_group_mean_batch_std_matches_its_definition():
    batch = Batch(seed=4)
    out = run(batch.dataproto(), "group_mean_batch_std").batch["advantages"]
    s = batch.scores.double()
    grid = (s - s.mean(1, keepdim=True)) / (s.reshape(-1).std() + 1e-6)
    grid[0] = 0.0  # the all-solved prompt
    torch.testing.assert_close(out, batch.expected(grid).float())
    rpp = run(batch.dataproto(), "reinforce_plus_plus_baseline").batch["advantages"]
    assert not torch.allclose(out, rpp, atol=1e-3)


def test_synthetic_padding_rows_are_left_out():
    batch = Batch(seed=5)
    data = batch.dataproto()
    pad = DataProto.from_dict(
        tensors={
            "token_level_rewards": torch.zeros(3, WIDTH),
            "response_mask": torch.zeros(3, WIDTH, dtype=torch.long),
            "old_log_probs": torch.zeros(3, WIDTH),
        },
        non_tensors={
            "uid": np.array(["pad0a1b"] * 3, dtype=object),
            "extra_info": np.array([data.non_tensor_batch["extra_info"][0]] * 3, dtype=object),
        },
    )
    for estimator in ("durian", "group_mean_batch_std"):
        alone = run(batch.dataproto(), estimator).batch["advantages"]
        padded = run(DataProto.concat([batch.dataproto(), pad]), estimator).batch["advantages"]
        torch.testing.assert_close(padded[: len(data)], alone)
        assert not padded[len(data) :].any()


def test_missing_inputs_raise_clear_errors():
    batch = Batch(seed=6)
    with pytest.raises(ValueError, match="old_log_probs"):
        run(batch.dataproto(old_log_probs=False), "durian")
    with pytest.raises(ValueError, match="extra_info"):
        run(batch.dataproto(extra_info=False), "durian")
    data = batch.dataproto()
    data.non_tensor_batch["extra_info"][5] = {"index": 3}
    with pytest.raises(ValueError, match=r"visual_entropy: row 5 \(uid 'prompt-\d'\)"):
        run(data, "durian")
    data = batch.dataproto()
    data.non_tensor_batch["extra_info"][5] = {"visual_entropy": float("nan")}
    with pytest.raises(ValueError, match="row 5"):
        run(data, "durian")
    data = batch.dataproto()
    with pytest.raises(RuntimeError, match="trainer.v1.trainer_mode=durian"):  # called without the hooks
        core_algos.get_adv_estimator_fn("durian")(
            token_level_rewards=data.batch["token_level_rewards"],
            response_mask=data.batch["response_mask"],
            index=data.non_tensor_batch["uid"],
            config=algorithm("durian"),
        )


def test_misaligned_or_uneven_rows_raise():
    batch = Batch(seed=7)
    data = batch.dataproto()
    infos, uid = data.non_tensor_batch["extra_info"], data.non_tensor_batch["uid"]
    other = int(np.flatnonzero(uid != uid[0])[0])
    infos[[0, other]] = infos[[other, 0]]  # two rows of different prompts swap extra_info
    with pytest.raises(ValueError, match="misaligned"):
        run(data, "durian")
    uneven = batch.dataproto()[1:]
    with pytest.raises(ValueError, match="same number of rollouts"):
        run(uneven, "durian")


def test_bad_settings_name_the_key():
    batch = Batch(seed=8)
    with pytest.raises(ValueError, match=r"algorithm\.durian: weights: must sum to 1"):
        run(batch.dataproto(), "durian", weights=[0.5, 0.6, 0.1])
    with pytest.raises(ValueError, match=r"algorithm\.durian: unknown Durian setting\(s\) \['num_groups'\]"):
        run(batch.dataproto(), "group_mean_batch_std", num_groups=3)
    with pytest.raises(ValueError, match="algorithm.durian: num_reasoning_groups"):
        run(batch.dataproto(), "durian_reasoning", num_reasoning_groups=0)


def test_per_group_metrics_reach_the_logged_metrics():
    batch = Batch(seed=9, num_prompts=12)
    out = run(batch.dataproto(), "durian", num_reasoning_groups=4)
    metrics = out.meta_info[durian_trainer.METRICS_KEY]
    percep = perceptual_groups(batch.entropy)
    reason = reasoning_groups(batch.confidence, 4)
    assert metrics["durian/perceptual_groups_used"] == 3 and metrics["durian/reasoning_groups_used"] == 4
    assert metrics["durian/num_prompts"] == 12
    for kind, groups, count in (("perceptual", percep, 3), ("reasoning", reason, 4)):
        for g in range(count):
            assert metrics[f"durian/{kind}_size_{g}"] == int((groups == g).sum())
            pooled = batch.scores[groups == g].reshape(-1).double().std()
            assert metrics[f"durian/{kind}_std_{g}"] == pytest.approx(float(pooled), rel=1e-5)
    logged = durian_trainer._legacy_compute_data_metrics(lambda batch, use_critic: {"critic/x": 1.0})(out, False)
    assert logged["durian/reasoning_std_3"] == metrics["durian/reasoning_std_3"] and logged["critic/x"] == 1.0


# ---------------------------------------------------------------- v1 trainer


@pytest.fixture(scope="module")
def v1_config():
    from hydra import compose, initialize_config_dir

    config_dir = os.path.join(os.path.dirname(verl.__file__), "trainer", "config")
    overrides = [
        "algorithm.adv_estimator=durian",
        "trainer.v1.trainer_mode=durian",
        "+algorithm.durian.weights=[0.4,0.3,0.3]",
        "+algorithm.durian.num_reasoning_groups=3",
        f"actor_rollout_ref.rollout.n={G}",
        "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=2",
        "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=2",
        "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=2",
        "actor_rollout_ref.actor.ppo_mini_batch_size=4",
        "data.train_batch_size=8",
        "trainer.n_gpus_per_node=1",
    ]
    with initialize_config_dir(config_dir=config_dir, version_base=None):
        return compose("ppo_trainer", overrides=overrides)


def test_v1_config_with_durian_settings_passes_verl_validation(v1_config):
    from verl.utils.config import validate_config

    validate_config(v1_config, use_reference_policy=False, use_critic=False)
    assert inputs.settings_from_config(v1_config.algorithm).weights == (0.4, 0.3, 0.3)


@pytest.mark.filterwarnings("ignore:Disabled critic")
def test_durian_trainer_is_selectable_and_runs_as_sync(v1_config):
    assert get_trainer_cls(v1_config.trainer.v1.trainer_mode) is DurianTrainer
    trainer = DurianTrainer(v1_config)
    assert issubclass(DurianTrainer, PPOTrainerSync) and trainer.trainer_mode == "sync"
    assert type(trainer.replay_buffer) is ReplayBuffer and not isinstance(trainer.replay_buffer, ReplayBufferAsync)
    bad = v1_config.copy()
    bad.algorithm.durian.weights = [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match=r"algorithm\.durian: weights"):
        DurianTrainer(bad)


class FakeTQ:
    """In-memory stand-in for the two TransferQueue calls the advantage step makes."""

    def __init__(self):
        from transfer_queue.storage.managers.simple_storage_manager import AsyncSimpleStorageManager

        self.pack = AsyncSimpleStorageManager._pack_field_values
        self.rows: dict[str, dict] = {}

    def kv_batch_put(self, keys, partition_id, fields=None, tags=None):
        from tensordict import TensorDict
        from transfer_queue import KVBatchMeta

        for name in fields.keys():  # noqa: SIM118  (iterating a TensorDict walks its rows)
            values = fields[name]
            items = values.unbind(0) if isinstance(values, torch.Tensor) else durian_trainer._as_list(values)
            for key, item in zip(keys, items, strict=True):
                self.rows.setdefault(key, {})[name] = item
        assert isinstance(fields, TensorDict)
        return KVBatchMeta(keys=list(keys), tags=tags or [{} for _ in keys], partition_id=partition_id)

    def kv_batch_get(self, keys, partition_id, select_fields):
        from tensordict import TensorDict

        present = [f for f in select_fields if all(f in self.rows[k] for k in keys)]  # TQ skips absent fields
        return TensorDict({f: self.pack([self.rows[k][f] for k in keys]) for f in present}, batch_size=[len(keys)])


def fill_fake_tq(tq: FakeTQ, batch: Batch) -> list[str]:
    keys = []
    for r, grid_row in enumerate(batch.perm.tolist()):
        prompt, session = divmod(grid_row, G)
        length = int(batch.mask[grid_row].sum())
        scores = torch.zeros(length)
        scores[-1] = batch.scores[prompt, session]
        key = f"{batch.uids[prompt]}_{session}_0"
        tq.rows[key] = {
            "uid": batch.uids[prompt],
            "response_mask": torch.ones(length, dtype=torch.long),
            "rm_scores": scores,
            "old_log_probs": batch.old_log_probs[grid_row, :length].clone(),
            "extra_info": {"index": prompt, "visual_entropy": float(batch.entropy[prompt])},
        }
        keys.append(key)
    return keys


@pytest.mark.filterwarnings("ignore:Disabled critic")
def test_v1_advantage_step_feeds_durian_and_logs_metrics(v1_config, monkeypatch):
    from transfer_queue import KVBatchMeta

    fake = FakeTQ()
    monkeypatch.setattr(trainer_base, "tq", fake)
    monkeypatch.setattr(durian_trainer, "tq", fake)
    batch = Batch(seed=10)
    keys = fill_fake_tq(fake, batch)
    trainer = DurianTrainer(v1_config)
    metrics: dict = {}
    trainer._compute_advantage(KVBatchMeta(keys=keys, tags=[{} for _ in keys], partition_id="train"), metrics)

    grid = durian_advantage(batch.scores, batch.entropy, batch.confidence, (0.4, 0.3, 0.3), num_reasoning_groups=3)
    for key, grid_row in zip(keys, batch.perm.tolist(), strict=True):
        advantages = fake.rows[key]["advantages"]
        assert advantages.shape == (int(batch.mask[grid_row].sum()),)
        torch.testing.assert_close(advantages, grid.reshape(-1)[grid_row].expand_as(advantages))
    assert metrics["durian/perceptual_groups_used"] == 3 and metrics["durian/reasoning_groups_used"] == 3
    assert sum(metrics[f"durian/perceptual_size_{g}"] for g in range(3)) == 8

    del fake.rows[keys[3]]["extra_info"]
    with pytest.raises(ValueError, match=r"TransferQueue fields \['extra_info'\]"):
        trainer._compute_advantage(KVBatchMeta(keys=keys, tags=[{} for _ in keys], partition_id="train"), {})


@pytest.mark.filterwarnings("ignore:Disabled critic")
def test_v1_sync_trainer_with_durian_estimator_fails_loudly(v1_config, monkeypatch):
    fake = FakeTQ()
    monkeypatch.setattr(trainer_base, "tq", fake)
    keys = fill_fake_tq(fake, Batch(seed=11))
    from transfer_queue import KVBatchMeta

    config = v1_config.copy()
    config.trainer.v1.trainer_mode = "sync"
    batch = KVBatchMeta(keys=keys, tags=[{} for _ in keys], partition_id="train")
    with pytest.raises(RuntimeError, match="trainer.v1.trainer_mode=durian"):
        PPOTrainerSync(config)._compute_advantage(batch, {})

"""DAPO's dynamic sampling by EasyR1's rule (durian.recipe.sampler) inside verl's own sync replay
buffer: the rule on the paper's reward levels, and the buffer's classification on TransferQueue
rows, next to verl's own equal-score rule reading the same rows."""

import numpy as np
import pytest
import transfer_queue
from verl.trainer.ppo.v1.replay_buffer import ReplayBuffer

from durian.recipe import sampler

# the paper's reward per rollout: 0.1 * format + 0.9 * accuracy
GROUPS = {
    "allwrong": [0.0] * 8,  # no format, all wrong: EasyR1 and verl drop it
    "allright": [1.0] * 8,  # EasyR1 and verl drop it
    "formatted": [0.1] * 8,  # formatted, all wrong: zero variance, but EasyR1 keeps it (mean 0.1)
    "nearlyright": [1.0] * 7 + [0.9],  # mean 0.9875 < 0.99: both keep it
    "onebit": [0.0] * 7 + [0.1],  # mean 0.0125 > 0.01: both keep it
    "mixed": [0.0, 1.0] * 4,
}


def test_easyr1s_band_and_verls_equal_rule_on_the_papers_reward_levels():
    band = {name for name, values in GROUPS.items() if sampler.keep_group(values, "mean_band", 0.01, 0.99)}
    equal = {name for name, values in GROUPS.items() if sampler.keep_group(values, "equal")}
    assert band == {"formatted", "nearlyright", "onebit", "mixed"}
    assert equal == {"nearlyright", "onebit", "mixed"}
    assert not sampler.keep_group([0.5], "mean_band", 0.5, 0.9) and sampler.keep_group([0.5], "equal")
    with pytest.raises(ValueError, match="group filter rule"):
        sampler.keep_group([1.0], "std")


def test_settings_are_validated_and_default_to_verls_rule():
    assert sampler.filter_settings({}) == ("equal", 0.01, 0.99)
    assert sampler.filter_settings({"group_filter": "mean_band", "group_filter_low": 0.1}) == ("mean_band", 0.1, 0.99)
    with pytest.raises(ValueError, match="group_filter: must be one of"):
        sampler.filter_settings({"group_filter": "band"})
    with pytest.raises(ValueError, match="must be below"):
        sampler.filter_settings({"group_filter": "mean_band", "group_filter_low": 0.9, "group_filter_high": 0.1})


def verl_buffer(metric="score"):
    return ReplayBuffer(trainer_mode="sync", trainer_config={}, max_off_policy_threshold=None,
                        max_off_policy_strategy="drop", sampler_kwargs={}, refill_fn=lambda count: None,
                        filter_groups_metric=metric, train_batch_size=4, gen_batch_size=1)


def test_the_band_buffer_is_verls_with_the_same_arguments():
    buffer = verl_buffer()
    assert sampler.with_group_filter(buffer, {"group_filter": "equal"}) is buffer
    assert sampler.with_group_filter(verl_buffer(None), {"group_filter": "mean_band"}).__class__ is ReplayBuffer
    swapped = sampler.with_group_filter(buffer, {"group_filter": "mean_band", "group_filter_high": 0.95})
    assert isinstance(swapped, ReplayBuffer) and type(swapped).__name__ == "MeanBandReplayBuffer"
    assert (swapped.group_filter_low, swapped.group_filter_high) == (0.01, 0.95)
    for name in ("trainer_mode", "filter_groups_metric", "train_batch_size", "gen_batch_size", "refill_fn",
                 "max_inflight_gen_batches", "sync_refill_failed_groups", "max_off_policy_threshold"):
        assert getattr(swapped, name) == getattr(buffer, name), name


@pytest.fixture
def rows(monkeypatch):
    """Finished groups of GROUPS in the buffer's partition; the TransferQueue read answers their scores
    as verl stores them (extra_fields.reward_extra_info)."""
    def fill(buffer):
        for uid, values in GROUPS.items():
            for session in range(len(values)):
                buffer.partitions["train"][f"{uid}_{session}_0"] = {"status": "finished"}
            buffer.finished_keys["train"].add(uid)

    def kv_batch_get(keys, partition_id, select_fields):
        assert partition_id == "train" and select_fields in (["extra_fields"], ["rm_scores"])
        scores = [GROUPS[key.split("_")[0]][int(key.split("_")[1])] for key in keys]
        if select_fields == ["rm_scores"]:
            import torch

            return {"rm_scores": [torch.tensor([0.0, score]) for score in scores]}
        return {"extra_fields": [{"reward_extra_info": {"score": s, "format": 1.0}} for s in scores]}

    monkeypatch.setattr(transfer_queue, "kv_batch_get", kv_batch_get)
    return fill


@pytest.mark.parametrize("metric", ["score", "reward"])
def test_the_band_buffer_evicts_easyr1s_groups_where_verls_evicts_the_equal_ones(rows, metric):
    ours = sampler.with_group_filter(verl_buffer(metric), {"group_filter": "mean_band"})
    theirs = verl_buffer(metric)
    rows(ours)
    rows(theirs)
    evicted, counts = ours._dapo_filtered_keys("train")
    assert evicted == {"allwrong", "allright"} and counts == {0.0: 1, 1.0: 1}
    verl_evicted, _ = theirs._dapo_filtered_keys("train")
    assert verl_evicted == {"allwrong", "allright", "formatted"}  # verl's rule, read from the same rows
    assert ours._dapo_filtered_keys("train")[0] == evicted  # cached, and stable across polls
    ours.finished_keys["train"].discard("allwrong")  # cleared by the buffer: forgotten
    assert ours._dapo_filtered_keys("train")[0] == {"allright"}
    assert ours._dapo_filtered_keys("val") == (set(), {})


def test_a_group_without_the_metric_fails_naming_it(rows, monkeypatch):
    buffer = sampler.with_group_filter(verl_buffer("accuracy"), {"group_filter": "mean_band"})
    rows(buffer)
    with pytest.raises(RuntimeError, match=r"no DAPO metric 'accuracy' in reward_extra_info \(has \['format', 'score'\]\)"):
        buffer._dapo_filtered_keys("train")
    assert np.isclose(np.mean(GROUPS["onebit"]), 0.0125)


def test_the_poll_interval_reaches_verls_own_wait(monkeypatch):
    from verl.trainer.ppo.v1 import replay_buffer

    slept = []
    monkeypatch.setattr(replay_buffer.time, "sleep", slept.append)
    default = verl_buffer()
    assert sampler.with_poll_interval(default, {}) is default
    default._wait_for_next_poll("train", 0.0)
    buffer = sampler.with_poll_interval(sampler.with_group_filter(verl_buffer(), {"group_filter": "mean_band"}),
                                        {"group_filter": "mean_band", "poll_interval": 0.05})
    assert type(buffer).__name__ == "MeanBandReplayBuffer"
    buffer._wait_for_next_poll("train", 0.0)
    assert slept == [2.0, 0.05]
    for bad in (0, -1, "fast", True, float("inf")):
        with pytest.raises(ValueError, match="sampler_kwargs.poll_interval: must be a finite number of seconds > 0"):
            sampler.with_poll_interval(verl_buffer(), {"poll_interval": bad})

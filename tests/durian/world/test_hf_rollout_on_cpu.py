"""The ``hf`` rollout backend: found by verl's lookup, generates for text + image prompts, never
emits vision tokens, and follows weight updates pushed through its adapter. No Ray, no PPO run."""

import asyncio
import copy
import importlib
import inspect
import sys

import pytest
import torch

from durian.world import hf_rollout as hf
from durian.world import task

MAX_TOKENS = 48


@pytest.fixture(scope="module")
def server(smoke_world):
    from verl.workers.config import HFModelConfig, RolloutConfig

    config = RolloutConfig(name="hf", dtype="float32", prompt_length=256, response_length=MAX_TOKENS)
    return hf.HFRolloutServer(config, HFModelConfig(path=str(smoke_world / "model")), device="cpu")


@pytest.fixture(scope="module")
def prompt(server):
    """What the agent loop sends: processor-expanded prompt ids and the PIL images."""
    # a polygon-sides question: the tiny model answers those in one clean pass (its shape counts
    # can ramble past the token limit, and this test needs a response that stops at EOS)
    example = next(e for e in task.make_split(0, "val", 8, 112) if e.kind == "sides" and e.shown is None)
    messages = task.prompt_content(example.question, example.image)
    text = server.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    encoded = server.processor(text=[text], images=[example.image], return_tensors="pt")
    return encoded, [example.image]


def generate(server, prompt, **params):
    encoded, images = prompt
    ids = encoded["input_ids"][0].tolist()
    return asyncio.run(server.generate(prompt_ids=ids, sampling_params=params, request_id="r", image_data=images))


def greedy(server, prompt, **params):
    return generate(server, prompt, temperature=0, top_p=1.0, top_k=-1, **params)


def test_verl_finds_the_hf_backend_by_name():
    import verl  # noqa: F401
    from verl.workers.config import RolloutConfig
    from verl.workers.rollout.base import _ROLLOUT_REGISTRY, BaseRollout, get_rollout_class
    from verl.workers.rollout.replica import RolloutReplica, get_rollout_replica_class

    hf.install()
    hf.install()
    config = RolloutConfig(name="hf")
    adapter = get_rollout_class(config.name, config.mode)
    replica = get_rollout_replica_class(config.name, disaggregation_enabled=config.disaggregation.enabled)
    assert adapter is hf.HFServerAdapter and issubclass(adapter, BaseRollout) and not inspect.isabstract(adapter)
    assert replica is hf.HFReplica and issubclass(replica, RolloutReplica) and not inspect.isabstract(replica)
    assert _ROLLOUT_REGISTRY[("vllm", "async")] == "verl.workers.rollout.vllm_rollout.ServerAdapter"  # untouched


def test_install_before_verl_registers_once_the_rollout_modules_load(tmp_path, monkeypatch):
    (tmp_path / "fake_rollout_base.py").write_text("_ROLLOUT_REGISTRY = {}\n")
    (tmp_path / "fake_rollout_replica.py").write_text(
        "class RolloutReplicaRegistry:\n"
        "    _registry = {}\n"
        "    @classmethod\n"
        "    def register(cls, name, loader):\n"
        "        cls._registry[name] = loader\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    targets = {"fake_rollout_base": hf._register_adapter, "fake_rollout_replica": hf._register_replica}
    monkeypatch.setattr(hf, "_TARGETS", targets)
    monkeypatch.setattr(hf, "_finder", hf._AfterImport())
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    hf.install()
    hf.install()
    assert sys.meta_path.count(hf._finder) == 1
    base = importlib.import_module("fake_rollout_base")
    replica = importlib.import_module("fake_rollout_replica")
    assert base._ROLLOUT_REGISTRY == {("hf", "async"): "durian.world.hf_rollout.HFServerAdapter"}
    assert replica.RolloutReplicaRegistry._registry["hf"]() is hf.HFReplica
    assert hf._finder.hooks == {}


def test_greedy_is_repeatable_stops_at_eos_and_returns_the_models_log_probs(server, prompt):
    first, second = greedy(server, prompt, logprobs=True), greedy(server, prompt)
    ids = first.token_ids
    assert ids == second.token_ids and second.log_probs is None
    eos = set(server.model.generation_config.eos_token_id)
    assert 0 < len(ids) < MAX_TOKENS and ids[-1] in eos and not eos & set(ids[:-1])
    assert "boxed" in server.tokenizer.decode(ids)  # the warm-started model answers the question
    # One <|image_pad|> per image (vLLM-style prompts) is expanded to the image's patch count.
    encoded, images = prompt
    pad = server.processor.image_token_id
    expanded = encoded["input_ids"][0].tolist()
    deduped = [t for i, t in enumerate(expanded) if t != pad or expanded[i - 1] != pad]
    assert len(deduped) < len(expanded) and deduped.count(pad) == 1
    assert asyncio.run(server.generate(deduped, {"temperature": 0}, "r", image_data=images)).token_ids == ids

    # Log-probs match a teacher-forced forward pass over prompt + response, as the actor computes them.
    extend = {"input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, len(ids), dtype=torch.long),
              "mm_token_type_ids": torch.zeros(1, len(ids), dtype=torch.long)}
    full = {k: torch.cat([v, extend[k]], dim=1) if k in extend else v for k, v in encoded.items()}
    assert set(full) == {"input_ids", "attention_mask", "mm_token_type_ids", "pixel_values", "image_grid_thw"}
    with torch.no_grad():
        logits = server.model(**full).logits[0, encoded["input_ids"].shape[1] - 1 : -1]
    logits[:, server.banned_ids] = float("-inf")
    expected = torch.log_softmax(logits, -1).gather(-1, torch.tensor(ids)[:, None])[:, 0]
    assert torch.allclose(torch.tensor(first.log_probs), expected, atol=1e-3)


def test_sampling_honours_max_tokens_top_k_temperature_and_seed(server, prompt):
    reference = greedy(server, prompt).token_ids
    assert greedy(server, prompt, max_tokens=4).token_ids == reference[:4]
    assert generate(server, prompt, temperature=5.0, top_k=1, top_p=1.0, seed=0).token_ids == reference
    sampled = [generate(server, prompt, temperature=5.0, top_k=-1, max_tokens=6, seed=s).token_ids for s in range(4)]
    assert all(1 <= len(s) <= 6 for s in sampled) and len({tuple(s) for s in sampled}) > 1
    assert generate(server, prompt, temperature=5.0, max_tokens=6, seed=2).token_ids == sampled[2]
    with_logprobs = generate(server, prompt, temperature=5.0, max_tokens=6, seed=1, logprobs=True)
    assert len(with_logprobs.log_probs) == len(with_logprobs.token_ids) and max(with_logprobs.log_probs) <= 0
    long = generate(server, prompt, temperature=1.0, max_tokens=8, ignore_eos=True, seed=0).token_ids
    assert len(long) == 8


def test_vision_tokens_are_never_generated_even_when_the_model_favours_them(server, prompt):
    vocab = server.tokenizer.get_vocab()
    assert server.banned_ids == sorted(vocab[t] for t in hf.VISION_TOKENS)

    def favour_vision(module, args, output):
        output = output.clone()
        output[..., server.banned_ids] += 1e4
        return output

    handle = server.model.lm_head.register_forward_hook(favour_vision)
    try:
        encoded, _ = prompt
        with torch.no_grad():
            plain = server.model.generate(**encoded, max_new_tokens=3, do_sample=False)
        assert set(plain[0, encoded["input_ids"].shape[1] :].tolist()) <= set(server.banned_ids)  # the hook bites
        outputs = [greedy(server, prompt, max_tokens=12, logprobs=True)]
        outputs += [generate(server, prompt, temperature=3.0, max_tokens=12, seed=s) for s in range(3)]
    finally:
        handle.remove()
    for output in outputs:
        assert output.token_ids and not set(output.token_ids) & set(server.banned_ids)
    assert min(outputs[0].log_probs) > -10  # log-probs of the distribution sampled, vision tokens excluded


class _LocalHandle:
    """Stands in for the server's Ray actor handle: ``handle.update_weights.remote(...)`` is awaitable."""

    def __init__(self, server):
        self.buckets = []

        async def call(bucket, global_steps):
            self.buckets.append(len(bucket))
            return await server.update_weights(bucket, global_steps)

        self.update_weights = type("Method", (), {"remote": staticmethod(call)})


def test_weights_pushed_through_the_adapter_drive_generation(server, prompt):
    original = {k: v.clone() for k, v in server.model.state_dict().items()}
    generator = torch.Generator().manual_seed(0)
    perturbed = {
        k: v + 2.0 * v.std() * torch.randn(v.shape, generator=generator) if v.numel() > 1 else v
        for k, v in original.items()
    }
    reference = copy.deepcopy(server.model)
    reference.load_state_dict(perturbed)
    encoded, _ = prompt
    with torch.no_grad():
        expected = reference.generate(
            **encoded, max_new_tokens=MAX_TOKENS, do_sample=False, suppress_tokens=server.banned_ids
        )[0, encoded["input_ids"].shape[1] :].tolist()

    before = greedy(server, prompt).token_ids
    adapter = hf.HFServerAdapter(server.config, server.model_config, device_mesh=None, replica_rank=0)
    assert adapter.is_leader_rank and adapter.replica_rank == 0
    adapter.bucket_bytes = 1 << 16
    adapter.server = handle = _LocalHandle(server)
    try:
        asyncio.run(adapter.resume(tags=["weights"]))
        asyncio.run(adapter.update_weights(iter(perturbed.items()), global_steps=3))
        asyncio.run(adapter.resume(tags=["kv_cache"]))
        after = greedy(server, prompt)
        assert len(handle.buckets) > 2 and sum(handle.buckets) == len(perturbed)
        assert after.token_ids == expected != before
        assert after.extra_fields["global_steps"] == 3
        with pytest.raises(KeyError):
            asyncio.run(server.update_weights({"no.such.weight": torch.zeros(1)}))
    finally:
        asyncio.run(server.update_weights(original))
    assert greedy(server, prompt).token_ids == before


def encode(server, example):
    messages = task.prompt_content(example.question, example.image)
    text = server.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return server.processor(text=[text], images=[example.image], return_tensors="pt")["input_ids"][0].tolist()


def test_concurrent_requests_share_one_left_padded_generate_with_the_answers_of_one_at_a_time(server):
    """What the agent loop does: many requests at once. They are batched into one ``generate`` (rows of
    different prompt lengths, left-padded) and each gets the tokens and log-probs it gets alone."""
    examples = task.make_split(3, "val", 6, 112)
    prompts = [(encode(server, e), [e.image]) for e in examples]
    assert len({len(ids) for ids, _ in prompts}) > 1  # the rows really need padding
    params = {"temperature": 0, "top_p": 1.0, "top_k": -1, "logprobs": True}

    async def calls(together: bool):
        requests = [server.generate(ids, params, f"r{i}", image_data=images) for i, (ids, images) in enumerate(prompts)]
        return await asyncio.gather(*requests) if together else [await r for r in requests]

    server.batches.clear()
    alone = asyncio.run(calls(together=False))
    assert server.batches == [1] * 6
    together = asyncio.run(calls(together=True))
    assert server.batches[6:] == [6]
    eos = set(server.model.generation_config.eos_token_id)
    for one, batched in zip(alone, together):
        assert batched.token_ids == one.token_ids
        assert not eos & set(batched.token_ids[:-1])  # nothing after a row's own end token
        assert torch.allclose(torch.tensor(batched.log_probs), torch.tensor(one.log_probs), atol=1e-4)


def test_batches_are_bounded_by_max_num_seqs_and_seeded_requests_run_alone(smoke_world):
    from verl.workers.config import HFModelConfig, RolloutConfig

    config = RolloutConfig(name="hf", dtype="float32", prompt_length=256, response_length=8, max_num_seqs=4)
    small = hf.HFRolloutServer(config, HFModelConfig(path=str(smoke_world / "model")), device="cpu")
    example = task.make_split(0, "val", 1, 112)[0]
    ids = encode(small, example)

    async def calls(params_of):
        return await asyncio.gather(*[small.generate(ids, params_of(i), f"r{i}", image_data=[example.image])
                                      for i in range(6)])

    outputs = asyncio.run(calls(lambda i: {"temperature": 1.0, "max_tokens": 8}))
    assert small.batches == [4, 2] and all(1 <= len(o.token_ids) <= 8 for o in outputs)
    small.batches.clear()
    seeded = asyncio.run(calls(lambda i: {"temperature": 5.0, "max_tokens": 6, "seed": i % 2}))
    assert small.batches == [1] * 6
    assert seeded[0].token_ids == seeded[2].token_ids == seeded[4].token_ids  # each seed still fixes its draw

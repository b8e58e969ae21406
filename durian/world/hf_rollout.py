"""A verl 0.9.1 rollout backend on Hugging Face transformers' ``generate``, for CPU (any device works).

``actor_rollout_ref.rollout.name=hf`` selects, through verl's two rollout registries, ``HFReplica``
(``RolloutReplicaRegistry``: one ``HFRolloutServer`` Ray actor per replica, which the agent loop calls)
and ``HFServerAdapter`` (``_ROLLOUT_REGISTRY``: built in each actor worker, it pushes the actor's
weights to that server). ``install()`` runs while ``verl/__init__`` executes, so it imports nothing
from verl: it registers once verl's rollout modules are imported.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import importlib.abc
import inspect
import os
import sys
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

NAME = "hf"
VISION_TOKENS = ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>")


def server_name(replica_rank: int, kind: str = "", suffix: str = "") -> str:
    return f"hf_server_{kind}{replica_rank}{suffix}"


def expand_image_pads(prompt_ids: list[int], pad_id: int, counts: list[int]) -> list[int]:
    """Give the k-th run of ``pad_id`` exactly ``counts[k]`` tokens (vLLM-style prompts carry one)."""
    out: list[int] = []
    runs = iter(counts)
    for i, token in enumerate(prompt_ids):
        if token != pad_id:
            out.append(token)
        elif i == 0 or prompt_ids[i - 1] != pad_id:
            out += [pad_id] * next(runs)
    return out


@dataclasses.dataclass
class _Request:
    """One agent-loop call waiting for the next batch."""

    prompt_ids: list[int]
    params: dict[str, Any]
    images: list[Any] | None
    done: asyncio.Future


def _batch_key(params: dict[str, Any]) -> tuple | None:
    """Requests with equal keys share one ``generate``; a seeded request runs alone (its seed fixes
    its own draw, which a batch would mix with others')."""
    if "seed" in params:
        return None
    return tuple(sorted((k, v) for k, v in params.items() if k not in ("max_tokens", "max_new_tokens", "logprobs")))


class HFRolloutServer:
    """Generation with transformers; the agent loop's concurrent requests are batched into one
    left-padded ``generate`` of at most ``rollout.max_num_seqs`` rows (vLLM's own batch bound).
    A Ray actor in a run, a plain object in tests."""

    def __init__(self, config: Any, model_config: Any, replica_rank: int = 0, device: str | None = None) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoModelForImageTextToText, GenerationConfig

        from verl.utils.config import omega_conf_to_dataclass
        from verl.utils.torch_dtypes import PrecisionType
        from verl.workers.config import HFModelConfig, RolloutConfig

        self.config = omega_conf_to_dataclass(config, dataclass_type=RolloutConfig)
        self.model_config = omega_conf_to_dataclass(model_config, dataclass_type=HFModelConfig)
        self.replica_rank = replica_rank
        self.global_steps: int | None = None
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.dtype = PrecisionType.to_dtype(self.config.dtype)
        self.processor, self.tokenizer = self.model_config.processor, self.model_config.tokenizer
        kwargs: dict[str, Any] = {"dtype": self.dtype, "trust_remote_code": self.model_config.trust_remote_code}
        if attn := (self.model_config.override_config or {}).get("attn_implementation"):
            kwargs["attn_implementation"] = attn
        try:
            model = AutoModelForImageTextToText.from_pretrained(self.model_config.local_path, **kwargs)
        except ValueError:  # a text-only architecture
            model = AutoModelForCausalLM.from_pretrained(self.model_config.local_path, **kwargs)
        self.model = model.to(self.device).eval()
        # transformers >= 5.3 places the vision tokens' mRoPE positions by these; without them, silently wrong.
        self.mm_token_types = "mm_token_type_ids" in inspect.signature(self.model.forward).parameters

        vocab = self.tokenizer.get_vocab()
        self.banned_ids = sorted({vocab[t] for t in VISION_TOKENS if t in vocab})
        eos = self.model.generation_config.eos_token_id
        eos = [eos] if isinstance(eos, int) else list(eos or [])
        eos += [i for i in (self.tokenizer.eos_token_id, vocab.get("<|im_end|>")) if i is not None and i not in eos]
        self.eos_ids = set(eos)
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else eos[0]
        # A neutral config: generate() fills every unset field from the model's own generation_config
        # (Qwen ships repetition_penalty=1.05, top_k=1, ...), which verl's sampling params must override.
        self.model.generation_config = GenerationConfig(eos_token_id=eos, pad_token_id=self.pad_id)
        self.max_batch = max(1, int(self.config.max_num_seqs or 1))
        self._lock = threading.Lock()
        self._waiting: list[_Request] = []
        self._draining = False
        self.batches: list[int] = []  # the size of every generate call, for tests and benchmarks

    def get_server_address(self) -> str:
        return server_name(self.replica_rank)

    async def generate(
        self, prompt_ids: list[int], sampling_params: dict[str, Any], request_id: str,
        image_data: list[Any] | None = None, video_data: list[Any] | None = None, **kwargs: Any,
    ) -> Any:
        """The agent loop's call, as on verl's vLLM server: prompt token ids in, response token ids out."""
        from verl.workers.rollout.replica import TokenOutput

        if video_data:
            raise NotImplementedError("the hf rollout does not take videos")
        request = _Request(list(prompt_ids), dict(sampling_params), image_data, asyncio.get_running_loop().create_future())
        self._waiting.append(request)
        if not self._draining:
            self._draining = True
            asyncio.get_running_loop().create_task(self._drain())
        ids, logps = await request.done
        return TokenOutput(
            token_ids=ids, log_probs=logps, stop_reason="completed", extra_fields={"global_steps": self.global_steps}
        )

    async def _drain(self) -> None:
        """Generate for the waiting requests, batch after batch; requests that arrive during a batch
        form the next one."""
        try:
            await asyncio.sleep(0)  # let the other requests of this scheduling round arrive
            while self._waiting:
                head = _batch_key(self._waiting[0].params)
                batch = [self._waiting.pop(0)] if head is None else \
                    [r for r in self._waiting if _batch_key(r.params) == head][: self.max_batch]
                self._waiting = [r for r in self._waiting if all(r is not b for b in batch)]
                try:
                    results = await asyncio.to_thread(self._generate_batch, batch)
                except Exception as error:  # each caller sees the failure of its own batch
                    for request in batch:
                        request.done.set_exception(error)
                    continue
                for request, result in zip(batch, results):
                    request.done.set_result(result)
        finally:
            self._draining = False

    def _prepare(self, request: _Request) -> tuple[list[int], dict[str, Any], int]:
        """The request's prompt ids with its image pads expanded, its vision inputs, its token budget."""
        inputs: dict[str, Any] = {}
        prompt_ids = request.prompt_ids
        if request.images:
            vision = self.processor.image_processor(images=request.images, return_tensors="pt")
            counts = (vision["image_grid_thw"].prod(-1) // self.processor.image_processor.merge_size**2).tolist()
            prompt_ids = expand_image_pads(prompt_ids, self.processor.image_token_id, counts)
            inputs = {"pixel_values": vision["pixel_values"], "image_grid_thw": vision["image_grid_thw"]}
        c, params = self.config, request.params
        max_tokens = params.get("max_tokens", params.get("max_new_tokens"))
        if max_tokens is None:
            max_tokens = min(c.response_length, c.prompt_length + c.response_length - len(prompt_ids))
        if c.max_model_len:
            max_tokens = min(max_tokens, c.max_model_len - len(prompt_ids))
        return prompt_ids, inputs, max(1, int(max_tokens))

    def _generate_batch(self, batch: list[_Request]) -> list[tuple]:
        import torch

        prepared = [self._prepare(r) for r in batch]
        width = max(len(ids) for ids, _, _ in prepared)
        # left padding: every row's next token is at the same position
        input_ids = torch.tensor([[self.pad_id] * (width - len(ids)) + ids for ids, _, _ in prepared], device=self.device)
        attention_mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids, _, _ in prepared],
                                      device=self.device)
        inputs: dict[str, torch.Tensor] = {}
        vision = [v for _, v, _ in prepared if v]
        if vision:
            inputs["pixel_values"] = torch.cat([v["pixel_values"] for v in vision]).to(self.device, self.dtype)
            inputs["image_grid_thw"] = torch.cat([v["image_grid_thw"] for v in vision]).to(self.device)
        if self.mm_token_types:
            inputs["mm_token_type_ids"] = (input_ids == getattr(self.processor, "image_token_id", -1)).long()

        params = batch[0].params
        budgets = [b for _, _, b in prepared]
        temperature = float(params.get("temperature", 1.0))
        gen: dict[str, Any] = {
            "max_new_tokens": max(budgets), "do_sample": temperature > 0, "suppress_tokens": self.banned_ids,
            "repetition_penalty": float(params.get("repetition_penalty", 1.0)),
            "return_dict_in_generate": True, "output_logits": True,
        }
        if temperature > 0:  # verl's top_k=-1 means "off", as HF's 0 does
            top_k = max(0, int(params.get("top_k") or 0))
            gen.update(temperature=temperature, top_p=float(params.get("top_p", 1.0)), top_k=top_k)
        ignore_eos = params.get("ignore_eos", self.config.ignore_eos)
        if ignore_eos:
            gen["min_new_tokens"] = max(budgets)
        with self._lock, torch.no_grad():
            if "seed" in params:
                torch.manual_seed(int(params["seed"]))
            out = self.model.generate(input_ids=input_ids, attention_mask=attention_mask, **inputs, **gen)
        self.batches.append(len(batch))
        logits = torch.stack(out.logits).float() if any(r.params.get("logprobs") for r in batch) else None
        results = []
        for row, (request, budget) in enumerate(zip(batch, budgets)):
            # a row is cut at its own budget, then after its first end token (later tokens are padding)
            token_ids = out.sequences[row, width : width + budget].tolist()
            if not ignore_eos:
                stop = next((i for i, t in enumerate(token_ids) if t in self.eos_ids), None)
                token_ids = token_ids if stop is None else token_ids[: stop + 1]
            if logits is None or not request.params.get("logprobs", False):
                results.append((token_ids, None))
                continue
            # Log-probs of the distribution actually sampled from: temperature applied, vision tokens banned.
            row_logits = logits[: len(token_ids), row].clone()
            row_logits[:, self.banned_ids] = float("-inf")
            if temperature > 0 and not (self.config.logprobs_mode or "").startswith("raw"):
                row_logits = row_logits / temperature
            picked = torch.log_softmax(row_logits, -1).gather(
                -1, torch.tensor(token_ids, device=row_logits.device)[:, None])
            results.append((token_ids, picked[:, 0].tolist()))
        return results

    async def update_weights(self, weights: dict[str, Any], global_steps: int | None = None) -> None:
        """Load a bucket of named tensors (Hugging Face state-dict names) into the model."""
        result = await asyncio.to_thread(self._load, dict(weights))
        if result.unexpected_keys:
            raise KeyError(f"weights unknown to the rollout model: {result.unexpected_keys[:5]}")
        if global_steps is not None:
            self.global_steps = global_steps

    def _load(self, weights: dict[str, Any]) -> Any:
        with self._lock:
            return self.model.load_state_dict(weights, strict=False)

    # The model stays resident and keeps no KV cache between requests: the replica's other calls are no-ops.
    async def _noop(self, *args: Any, **kwargs: Any) -> dict:
        return {}

    wake_up = sleep = clear_kv_cache = release_kv_cache = resume_kv_cache = _noop
    abort_all_requests = resume_generation = start_profile = stop_profile = _noop


@functools.cache
def _verl_classes() -> tuple[type, type]:
    """Define the classes that subclass verl's (heavy) rollout modules, on first use."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from verl.plugin.platform import get_platform
    from verl.utils.device import get_resource_name
    from verl.workers.rollout.base import BaseRollout
    from verl.workers.rollout.replica import RolloutReplica
    from verl.workers.rollout.utils import ensure_async_iterator

    class HFServerAdapter(BaseRollout):
        """Lives in each actor (or checkpoint-engine) worker; pushes weights to its replica's server."""

        def __init__(self, config: Any, model_config: Any, device_mesh: Any, replica_rank: int = -1, **kwargs: Any):
            super().__init__(config, model_config, device_mesh)
            c = self.config
            size = c.tensor_model_parallel_size * c.data_parallel_size * c.pipeline_model_parallel_size
            rank = int(os.environ.get("RANK", "0"))
            self.replica_rank = rank // size if replica_rank == -1 else replica_rank
            self.is_leader_rank = rank % size == 0
            self.bucket_bytes = c.checkpoint_engine.update_weights_bucket_megabytes << 20
            self.server: Any = None  # looked up lazily: servers start after the workers

        async def resume(self, tags: list[str]) -> None:  # the server's model never leaves memory
            pass

        async def release(self) -> None:
            pass

        async def update_weights(self, weights: Any, wire_format: str = "named_tensors", **kwargs: Any) -> None:
            if wire_format != "named_tensors" or kwargs.get("peft_config") is not None:
                raise NotImplementedError("the hf rollout takes full named tensors (LoRA: model.lora.merge=True)")
            bucket: dict[str, Any] = {}
            size = 0
            # Every rank drains the generator: producing each full tensor is a collective across ranks.
            async for name, tensor in ensure_async_iterator(weights):
                if not self.is_leader_rank:
                    continue
                bucket[name] = tensor.detach().to("cpu", copy=True)
                size += bucket[name].nbytes
                if size >= self.bucket_bytes:
                    await self._send(bucket, None)
                    bucket, size = {}, 0
            if self.is_leader_rank:
                await self._send(bucket, kwargs.get("global_steps"))

        async def _send(self, bucket: dict[str, Any], global_steps: int | None) -> None:
            if self.server is None:
                self.server = ray.get_actor(server_name(self.replica_rank))
            await self.server.update_weights.remote(bucket, global_steps)

    class HFReplica(RolloutReplica):
        """One ``HFRolloutServer`` actor per replica, beside the replica's first worker."""

        async def launch_servers(self) -> None:
            kind = "reward_" if self.is_reward_model else "teacher_" if self.is_teacher_model else ""
            name = server_name(self.replica_rank, kind, self.name_suffix)
            options: dict[str, Any] = {"name": name, "max_concurrency": self.max_concurrency}
            if self.workers:
                node_id, device_ids = await self.workers[0].__ray_call__.remote(
                    lambda worker: (
                        ray.get_runtime_context().get_node_id(),
                        ray.get_runtime_context().get_accelerator_ids().get(get_resource_name(), []),
                    )
                )
                options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node_id=node_id, soft=False)
                if device_ids:  # share the worker's accelerator, as verl's vLLM servers do
                    platform = get_platform()
                    env = {var: "1" for var in platform.ray_noset_envvars()}
                    env[platform.visible_devices_envvar()] = ",".join(map(str, device_ids))
                    options["runtime_env"] = {"env_vars": env}
            server = ray.remote(HFRolloutServer).options(**options)
            server = server.remote(self.config, self.model_config, self.replica_rank)
            await server.get_server_address.remote()  # surfaces load errors here
            self.servers = [server]
            self._server_handle = server
            self._server_address = name  # no HTTP endpoint: the name only keys verl's load balancer

    for cls in (HFServerAdapter, HFReplica):  # importable (and picklable) by reference
        cls.__qualname__ = cls.__name__
        cls.__module__ = __name__
    return HFServerAdapter, HFReplica


def __getattr__(name: str) -> Any:
    if name in ("HFServerAdapter", "HFReplica"):
        return dict(zip(("HFServerAdapter", "HFReplica"), _verl_classes()))[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _register_adapter(module: ModuleType) -> None:
    module._ROLLOUT_REGISTRY[(NAME, "async")] = f"{__name__}.HFServerAdapter"


def _register_replica(module: ModuleType) -> None:
    module.RolloutReplicaRegistry.register(NAME, lambda: _verl_classes()[1])


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs a hook right after a watched module has executed."""

    def __init__(self) -> None:
        self.hooks: dict[str, Callable[[ModuleType], None]] = {}

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname not in self.hooks:
            return None
        others = (f for f in sys.meta_path if f is not self and hasattr(f, "find_spec"))
        spec = next((s for f in others if (s := f.find_spec(fullname, path, target)) is not None), None)
        if spec is None or spec.loader is None:
            return None
        hook, exec_module = self.hooks.pop(fullname), spec.loader.exec_module

        def run(module: ModuleType) -> None:
            exec_module(module)
            hook(module)

        spec.loader.exec_module = run
        return spec


_finder = _AfterImport()
_TARGETS = {"verl.workers.rollout.base": _register_adapter, "verl.workers.rollout.replica": _register_replica}


def install() -> None:
    """Register the ``hf`` rollout with verl (idempotent; imports nothing from verl)."""
    for name, hook in _TARGETS.items():
        if name in sys.modules:
            hook(sys.modules[name])
        else:
            _finder.hooks[name] = hook
    if _finder.hooks and _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)

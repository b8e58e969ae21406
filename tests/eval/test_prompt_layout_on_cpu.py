"""Training and evaluation build the same user turn for the same question (paper appendix D; issue
12 item 4): the images first, then the thinking instruction, the separator and the question.

Training: a Geometry3K row from ``durian.data.prepare.make_row`` (the verl ``prompt`` column, with
its ``<image>`` placeholders). Evaluation: the task's own ``doc_to_visual`` and ``doc_to_text``, the
images put first as lmms-eval's qwen2_5_vl (content = images + text) and vLLM (``image_first=True``,
eval.session.model_args) models do. For the HF backend that is observed, not assumed: the chat
lmms-eval's model builds during a real evaluation and the prompt it renders are compared with verl's
rendering of the training row.
"""

import pytest

from durian.prompt import IMAGE_PLACEHOLDER, THINKING_INSTRUCTION, user_turn
from eval.fixtures import fixture_dataset
from eval.session import model_args
from eval.task import task


def evaluation_turn(benchmark: str, doc: dict) -> str:
    adapter = task(benchmark).adapter
    return IMAGE_PLACEHOLDER * len(adapter.doc_to_visual(doc)) + adapter.doc_to_text(doc)


def test_geometry3k_training_row_and_evaluation_build_the_same_user_turn():
    from durian.data.prepare import make_row

    for index, doc in enumerate(fixture_dataset("geometry3k", n=6)):
        assert doc["problem"].startswith(IMAGE_PLACEHOLDER)
        row = make_row(question=doc["problem"], images=doc["images"], answer=doc["answer"], data_source="geometry3k",
                       split="test", index=index)
        (message,) = row["prompt"]
        assert message["role"] == "user"  # no system turn: Qwen2.5-VL's chat template adds its own
        assert message["content"] == evaluation_turn("geometry3k", doc)
        question = doc["problem"].removeprefix(IMAGE_PLACEHOLDER)
        assert message["content"] == f"{IMAGE_PLACEHOLDER}{THINKING_INSTRUCTION}\n\n{question}"


@pytest.mark.parametrize("benchmark", ["mathverse", "mathvista", "mathvision", "wemath", "hallusionbench"])
def test_every_benchmark_poses_its_question_as_training_would(benchmark):
    adapter = task(benchmark).adapter
    for doc in fixture_dataset(benchmark, n=6):
        if benchmark == "hallusionbench" and doc["image"] is None:
            continue  # left out by the task (process_docs)
        images = len(adapter.doc_to_visual(doc))
        assert evaluation_turn(benchmark, doc) == user_turn(adapter.pose(doc).question, images)


def test_both_evaluation_backends_put_the_images_first():
    _, vllm = model_args("vllm", "/ckpt", device="cuda", min_pixels=1, max_pixels=2, max_new_tokens=3)
    assert "image_first=True" in vllm
    assert task("mathvista").prompt_position == "prepend"


def test_the_hf_backend_feeds_the_model_the_training_prompt(smoke_world, tmp_path, monkeypatch):
    """The HF backend (lmms-eval's qwen2_5_vl, as eval.session loads it) on one Geometry3K question:
    the chat it builds has the images first, then the training row's text, and the prompt it renders
    for the model is the one verl renders from the training row of the same question."""
    import copy

    from omegaconf import OmegaConf
    from transformers import AutoProcessor, Qwen2_5_VLProcessor
    from verl.utils.dataset.rl_dataset import RLHFDataset

    from durian.data.prepare import make_row, write_rows
    from eval.run import evaluate

    rendered = []  # (messages, prompt text) for each batch lmms-eval's model renders
    render = Qwen2_5_VLProcessor.apply_chat_template

    def spy(self, conversation, *args, **kwargs):
        text = render(self, conversation, *args, **kwargs)
        if isinstance(conversation[0], list):  # lmms-eval's batch (eval.session's confidence pass sends one chat)
            rendered.append((copy.deepcopy(conversation), text))
        return text

    monkeypatch.setattr(Qwen2_5_VLProcessor, "apply_chat_template", spy)
    doc = fixture_dataset("geometry3k", n=1)
    doc.to_parquet(str(tmp_path / "one.parquet"))
    summary = evaluate(smoke_world / "model", "geometry3k", tmp_path / "out", run="layout", limit=1, max_new_tokens=4,
                       data_files=tmp_path / "one.parquet", min_pixels=3136, max_pixels=12544).read_text()
    assert '"lmms_eval_model": "qwen2_5_vl"' in summary  # lmms-eval's HF Qwen2.5-VL model
    ((messages,), (evaluation,)), = rendered
    system, user = messages
    assert system == {"role": "system", "content": "You are a helpful assistant."}
    assert [part["type"] for part in user["content"]] == ["image", "text"]
    question = doc[0]["problem"].removeprefix(IMAGE_PLACEHOLDER)
    assert user["content"][1]["text"] == f"{THINKING_INSTRUCTION}\n\n{question}" == user_turn(question, 0)

    row = make_row(question=doc[0]["problem"], images=doc[0]["images"], answer=doc[0]["answer"],
                   data_source="geometry3k", split="train", index=0)
    write_rows([row], tmp_path / "train.parquet")
    processor = AutoProcessor.from_pretrained(smoke_world / "model")
    config = OmegaConf.create({"max_prompt_length": 1024, "filter_overlong_prompts": False,
                               "cache_dir": str(tmp_path / "verl")})
    item = RLHFDataset(data_files=[str(tmp_path / "train.parquet")], tokenizer=processor.tokenizer, config=config,
                       processor=processor)[0]
    training = render(processor, item["raw_prompt"], add_generation_prompt=True, tokenize=False)
    assert [part["type"] for part in item["raw_prompt"][0]["content"]] == ["image", "text"]
    assert evaluation == training
    assert "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>You FIRST think" in evaluation

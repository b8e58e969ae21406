"""Confidence is the model's own log-prob of its response: the mean over the response's tokens of
the log-probs that greedy generation itself assigned them, with the image tokens at their 3-D
(mRoPE) positions; batching does not change it."""

import datasets
import pytest
import torch

from eval.confidence import Scored, _encode, response_confidence, response_confidences
from eval.fixtures import write_fixtures

PIXELS = {"min_pixels": 3136, "max_pixels": 12544}


@pytest.fixture(scope="module")
def model_and_processor(smoke_world):
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(smoke_world / "model", dtype=torch.float32).eval()
    return model, AutoProcessor.from_pretrained(smoke_world / "model", **PIXELS)


@pytest.fixture(scope="module")
def questions(tmp_path_factory):
    path = write_fixtures(tmp_path_factory.mktemp("fixtures"), n=6)["mathvista"]
    docs = datasets.load_dataset("parquet", data_files={"x": str(path)})["x"]
    return [([doc["decoded_image"].convert("RGB")], doc["question"]) for doc in docs]


def generated(model, processor, images, context, max_new_tokens=12):
    """(response text, mean log-prob of its tokens) as greedy generation scored them."""
    prompt, _ = _encode(processor, Scored(images, context, ""), **PIXELS)
    with torch.no_grad():
        out = model.generate(**prompt, max_new_tokens=max_new_tokens, do_sample=False, output_scores=True,
                             return_dict_in_generate=True)
    tokens = out.sequences[0, prompt["input_ids"].shape[1]:]
    ends = {processor.tokenizer.eos_token_id, processor.tokenizer.convert_tokens_to_ids("<|im_end|>")}
    length = next((i for i, t in enumerate(tokens.tolist()) if t in ends), len(tokens))
    logps = [torch.log_softmax(out.scores[i][0].float(), -1)[tokens[i]] for i in range(length)]
    text = processor.tokenizer.decode(tokens[:length])
    assert processor.tokenizer(text, add_special_tokens=False).input_ids == tokens[:length].tolist()
    return text, float(torch.stack(logps).mean())


def test_confidence_is_the_log_prob_generation_gave_its_response(model_and_processor, questions):
    model, processor = model_and_processor
    for images, context in questions[:3]:
        text, expected = generated(model, processor, images, context)
        confidence, tokens = response_confidence(model, processor, images, context, text, **PIXELS)
        assert tokens == len(processor.tokenizer(text, add_special_tokens=False).input_ids) > 0
        assert confidence == pytest.approx(expected, abs=1e-4)


def assert_same(expected, got):
    assert len(expected) == len(got)
    for (c1, n1), (c2, n2) in zip(expected, got):
        assert n1 == n2 and (c1 is None) == (c2 is None)
        if c1 is not None:
            assert c2 == pytest.approx(c1, abs=1e-5)


def test_batched_confidences_are_one_at_a_time_ones(model_and_processor, questions):
    """Rows of different lengths share a right-padded batch; an empty response has none."""
    model, processor = model_and_processor
    items = [Scored(images, context, response) for (images, context), response in
             zip(questions, ["<think>3 shapes</think> \\boxed{3}", "", "\\boxed{A}", "no", "<think>", "4 4 4 4 4"])]
    one = [response_confidence(model, processor, it.images, it.context, it.response, **PIXELS) for it in items]
    batched = response_confidences(model, processor, items, batch_size=4, **PIXELS)
    assert one[1] == batched[1] == (None, 0)
    assert_same(one, batched)
    # batches of 3 ending on the empty response: the last batch still scores what it holds
    assert_same(one[2:] + one[:2], response_confidences(model, processor, items[2:] + items[:2], batch_size=3, **PIXELS))
    with pytest.raises(ValueError, match="batch_size: must be at least 1, got 0"):
        response_confidences(model, processor, items, batch_size=0, **PIXELS)

"""durian.recipe.token_check: transformers' image-token check fed lists gives verl's agent loop the
processor outputs that transformers' own check gives, and still refuses a truncated prompt."""

import pytest
import torch
import verl  # noqa: F401  (the plugin installs the check, as in every verl process)
from transformers.processing_utils import ProcessorMixin
from verl.utils.tokenizer import build_multimodal_processor_inputs

from durian.recipe import token_check


def test_the_plugin_installed_it():
    assert ProcessorMixin._check_special_mm_tokens is token_check.check_special_mm_tokens


def test_agent_loop_inputs_equal_those_of_transformers_own_check(prompts, monkeypatch):
    processor, items = prompts
    ours = [build_multimodal_processor_inputs(processor, text=[text], images=[image]) for text, image in items]
    monkeypatch.setattr(ProcessorMixin, "_check_special_mm_tokens", token_check.original())
    theirs = [build_multimodal_processor_inputs(processor, text=[text], images=[image]) for text, image in items]
    for a, b in zip(ours, theirs, strict=True):
        assert set(a) == set(b) >= {"input_ids", "pixel_values", "image_grid_thw"}
        for key in a:
            assert torch.equal(a[key], b[key]), key
    image_id = processor.image_token_id
    assert all(int((o["input_ids"] == image_id).sum()) > 1 for o in ours)  # expanded placeholders counted


@pytest.mark.parametrize("return_tensors", ["pt", "np", None])
def test_a_prompt_truncated_inside_its_image_tokens_is_still_refused(prompts, return_tensors):
    processor, [(text, image), *_] = prompts
    with pytest.raises(ValueError, match="Mismatch in `image` token count"):
        processor(text=[text], images=[image], truncation=True, max_length=8, return_tensors=return_tensors)

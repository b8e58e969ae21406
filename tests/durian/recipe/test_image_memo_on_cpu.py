"""durian.recipe.image_memo: the image processor remembers its outputs by the images' content, and a
remembered output is what transformers itself computes, handed out as a copy."""

import numpy as np
import torch
import verl  # noqa: F401  (the plugin installs the memo, as in every verl process)
from PIL import Image
from transformers.image_processing_utils import BaseImageProcessor
from verl.utils.tokenizer import build_multimodal_processor_inputs

from durian.recipe import image_memo


def theirs(processor, images, **kwargs):
    return image_memo.original()(processor.image_processor, images, **kwargs)


def assert_same(ours, reference):
    assert set(ours) == set(reference) >= {"pixel_values", "image_grid_thw"}
    for key in ours:
        assert torch.equal(torch.as_tensor(ours[key]), torch.as_tensor(reference[key])), key


def test_the_plugin_installed_it():
    assert BaseImageProcessor.__call__ is image_memo.remembered_call


def test_repeated_calls_give_what_transformers_computes(prompts):
    processor, items = prompts
    for _ in range(3):  # the first call of each image computes, the later ones are remembered
        for text, image in items:
            ours = build_multimodal_processor_inputs(processor, text=[text], images=[image])
            reference = theirs(processor, [image], return_tensors="pt")
            assert_same({k: ours[k] for k in ("pixel_values", "image_grid_thw")}, reference)
    assert len(image_memo._memos[id(processor.image_processor)]) >= len(items)


def test_a_caller_that_changes_its_output_changes_nothing_for_the_next(prompts):
    processor, [(_, image), *_] = prompts
    first = processor.image_processor([image], return_tensors="pt")
    first["pixel_values"].add_(1.0)
    first["image_grid_thw"][0, 0] = 99
    assert_same(processor.image_processor([image], return_tensors="pt"), theirs(processor, [image], return_tensors="pt"))


def test_other_pixels_or_other_options_are_computed_again(prompts):
    processor, [(_, image), *_] = prompts
    processor.image_processor([image], return_tensors="pt")
    pixels = np.array(image)
    pixels[0, 0] = 255 - pixels[0, 0]
    changed = Image.fromarray(pixels)
    ours = processor.image_processor([changed], return_tensors="pt")
    assert_same(ours, theirs(processor, [changed], return_tensors="pt"))
    assert not torch.equal(ours["pixel_values"], theirs(processor, [image], return_tensors="pt")["pixel_values"])
    as_numpy = processor.image_processor([image], return_tensors="np")
    assert isinstance(as_numpy["pixel_values"], np.ndarray)
    assert_same(as_numpy, theirs(processor, [image], return_tensors="np"))


def test_inputs_it_cannot_key_go_to_transformers_untouched(prompts):
    processor, [(_, image), *_] = prompts
    memo = image_memo._memos.setdefault(id(processor.image_processor), image_memo.OrderedDict())
    before = dict(memo)
    tensor = torch.from_numpy(np.array(image)).permute(2, 0, 1)
    assert_same(processor.image_processor([tensor], return_tensors="pt"), theirs(processor, [tensor], return_tensors="pt"))
    assert dict(memo) == before


def test_each_processor_keeps_at_most_capacity_calls(prompts, monkeypatch):
    processor, [(_, image), *_] = prompts
    monkeypatch.setattr(image_memo, "CAPACITY", 3)
    pixels = np.array(image)
    for value in range(5):
        pixels[0, 0] = value
        processor.image_processor([Image.fromarray(pixels)], return_tensors="pt")
    assert len(image_memo._memos[id(processor.image_processor)]) == 3

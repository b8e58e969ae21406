"""durian.recipe.image_memo: the image processor remembers its outputs by the images' content, and a
remembered output is what transformers itself computes, handed out as a copy."""

import threading

import numpy as np
import pytest
import torch
import verl  # noqa: F401  (the plugin installs the memo, as in every verl process)
from PIL import Image
from transformers.image_processing_utils import BaseImageProcessor
from verl.utils.tokenizer import build_multimodal_processor_inputs

from durian.recipe import image_memo

TRANSFORMERS_CALL = image_memo.original()


def theirs(processor, images, **kwargs):
    return TRANSFORMERS_CALL(processor.image_processor, images, **kwargs)


def assert_same(ours, reference):
    assert set(ours) == set(reference) >= {"pixel_values", "image_grid_thw"}
    for key in ours:
        assert torch.equal(torch.as_tensor(ours[key]), torch.as_tensor(reference[key])), key


@pytest.fixture
def computed(monkeypatch):
    """transformers' own calls made through the memo, counted."""
    calls = []
    def counting(self, images, *args, **kwargs):
        calls.append(images)
        return TRANSFORMERS_CALL(self, images, *args, **kwargs)

    monkeypatch.setattr(image_memo, "_original", counting)
    monkeypatch.setattr(image_memo, "_memos", {})
    return calls


def test_the_plugin_installed_it():
    assert BaseImageProcessor.__call__ is image_memo.remembered_call


def test_repeated_calls_give_what_transformers_computes(prompts, computed):
    processor, items = prompts
    for _ in range(3):  # the first call of each image computes, the later ones are remembered
        for text, image in items:
            ours = build_multimodal_processor_inputs(processor, text=[text], images=[image])
            reference = theirs(processor, [image], return_tensors="pt")
            assert_same({k: ours[k] for k in ("pixel_values", "image_grid_thw")}, reference)
    assert len(computed) == len(items)


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


def test_inputs_it_cannot_key_go_to_transformers_untouched(prompts, computed):
    processor, [(_, image), *_] = prompts
    tensor = torch.from_numpy(np.array(image)).permute(2, 0, 1)
    for _ in range(2):
        assert_same(processor.image_processor([tensor], return_tensors="pt"), theirs(processor, [tensor], return_tensors="pt"))
    assert len(computed) == 2 and image_memo._memos == {}


def test_each_processor_keeps_at_most_capacity_calls(prompts, computed, monkeypatch):
    processor, [(_, image), *_] = prompts
    monkeypatch.setattr(image_memo, "CAPACITY", 3)
    pixels = np.array(image)
    for value in range(5):
        pixels[0, 0] = value
        processor.image_processor([Image.fromarray(pixels)], return_tensors="pt")
    assert len(image_memo._memos[id(processor.image_processor)]) == 3


def test_a_changed_processor_setting_is_computed_again(prompts, computed, monkeypatch):
    processor, [(_, image), *_] = prompts
    before = processor.image_processor([image], return_tensors="pt")
    monkeypatch.setattr(processor.image_processor, "image_mean", (0.1, 0.2, 0.3))
    after = processor.image_processor([image], return_tensors="pt")
    assert len(computed) == 2 and not torch.equal(before["pixel_values"], after["pixel_values"])
    assert_same(after, theirs(processor, [image], return_tensors="pt"))


def test_a_palette_image_goes_to_transformers_every_time(prompts, computed):
    processor, [(_, image), *_] = prompts
    palette = image.convert("P")
    for _ in range(2):
        assert_same(processor.image_processor([palette], return_tensors="pt"),
                    theirs(processor, [palette], return_tensors="pt"))
    assert len(computed) == 2


def test_threads_that_share_a_small_memo_each_get_the_right_output(prompts, computed, monkeypatch):
    """verl calls the processor from its agent loop's executor threads and the hf server's."""
    processor, items = prompts
    monkeypatch.setattr(image_memo, "CAPACITY", 2)  # evictions while other threads look up
    images = [image for _, image in items]
    expected = [theirs(processor, [image], return_tensors="pt")["pixel_values"] for image in images]
    failures = []

    def work(offset: int) -> None:
        try:
            for i in range(40):
                k = (i + offset) % len(images)
                if not torch.equal(processor.image_processor([images[k]], return_tensors="pt")["pixel_values"], expected[k]):
                    failures.append(f"thread {offset}, call {i}: image {k} got another output")
        except Exception as error:  # noqa: BLE001 (a KeyError from a race is what this looks for)
            failures.append(repr(error))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert len(image_memo._memos[id(processor.image_processor)]) <= 2


def test_each_processor_keeps_at_most_capacity_bytes(prompts, computed, monkeypatch):
    processor, [(_, image), *_] = prompts
    size = image_memo._nbytes(theirs(processor, [image], return_tensors="pt"))
    monkeypatch.setattr(image_memo, "CAPACITY_BYTES", 2 * size)
    pixels = np.array(image)
    for value in range(4):
        pixels[0, 0] = value
        processor.image_processor([Image.fromarray(pixels)], return_tensors="pt")
    assert len(image_memo._memos[id(processor.image_processor)]) == 2

import pytest

from durian.prompt import IMAGE_PLACEHOLDER, THINKING_INSTRUCTION, chat_messages, thinking_prompt


def test_instruction_is_prepended_by_default_and_can_be_appended():
    assert thinking_prompt(" What is x? ") == THINKING_INSTRUCTION + "\n\nWhat is x?"
    assert thinking_prompt("What is x?", "append") == "What is x?\n\n" + THINKING_INSTRUCTION
    assert "<think> </think>" in THINKING_INSTRUCTION and "\\boxed{}" in THINKING_INSTRUCTION


def test_chat_messages_put_the_image_first_unless_the_question_places_it():
    [turn] = chat_messages("Find x.")
    assert turn["role"] == "user"
    assert turn["content"].startswith(IMAGE_PLACEHOLDER + THINKING_INSTRUCTION)
    [turn] = chat_messages("In the figure <image> find x.")
    assert turn["content"].count(IMAGE_PLACEHOLDER) == 1 and "figure <image> find" in turn["content"]


def test_bad_prompts_are_rejected():
    with pytest.raises(ValueError, match="position"):
        thinking_prompt("x", "middle")
    with pytest.raises(ValueError, match="question: is empty"):
        thinking_prompt("   ")
    with pytest.raises(ValueError, match="2 <image> placeholders for 1 images"):
        chat_messages("<image> and <image>")


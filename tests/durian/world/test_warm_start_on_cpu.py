"""durian.world.warm_start's text stage (stage 0): each question restated with a random count, the
answer following from that count, and the loss on what follows from it but not on the count."""

import random

from durian.prompt import THINKING_INSTRUCTION
from durian.reward import compute_score
from durian.world import task, warm_start
from durian.world.model import SYSTEM_PROMPT, build_tokenizer


def test_restated_answers_follow_the_stated_count_in_every_form():
    examples = task.make_split(0, "sft", 600, 112)
    rng = random.Random(0)
    restated = [warm_start.restated(e, rng) for e in examples]
    for e, r in zip(examples, restated):
        assert (r.question, r.form, r.choices, r.shown) == (e.question, e.form, e.choices, e.shown)
        assert compute_score(task.DATA_SOURCE, r.response(), r.answer)["accuracy"] == 1.0
        if r.form == "choice":
            assert r.choices[task.LETTERS.index(r.answer)] == r.value
        elif r.form == "yes_no":
            assert r.answer == ("yes" if r.value == r.shown else "no")
        else:
            assert r.answer == str(r.value)
    # the count is not the image's: it is drawn, so only the count in the thought tells the answer
    assert 0.2 < sum(r.value == e.value for e, r in zip(examples, restated)) / len(examples) < 0.5
    yes_no = [r for r in restated if r.form == "yes_no"]
    assert 0.4 < sum(r.answer == "yes" for r in yes_no) / len(yes_no) < 0.6


def test_text_rows_train_the_response_but_not_its_stated_count():
    examples = task.make_split(0, "sft", 90, 112)
    corpus = [THINKING_INSTRUCTION, SYSTEM_PROMPT, *task.QUESTIONS.values()] + [e.question + e.response() for e in examples]
    tokenizer = build_tokenizer(corpus * 4, 400)
    rng = random.Random(0)
    for e in examples[:30]:
        r = warm_start.restated(e, rng)
        ids, labels = warm_start._text_row(tokenizer, r)
        trained = tokenizer.decode(ids[labels != -100])
        stated = f"There are {r.value} shapes" if r.kind == "count" else f"It has {r.value} sides"
        # every response token but the count's digit, then the end of the turn; nothing of the prompt
        assert trained == r.response().replace(stated, stated.replace(f" {r.value} ", "  ")) + "<|im_end|>", trained
        assert r.question not in tokenizer.decode(ids[labels != -100])
        assert tokenizer.decode(ids).count("<|image_pad|>") == 0  # text only

import io

import pyarrow.parquet as pq
import pytest
from PIL import Image
from transformers import AutoProcessor


@pytest.fixture(scope="module")
def prompts(smoke_world):
    """The world's processor and its first four train prompts as verl's agent loop renders them: (text, image)."""
    processor = AutoProcessor.from_pretrained(smoke_world / "model")
    out = []
    for row in pq.read_table(smoke_world / "data" / "train.parquet").slice(0, 4).to_pylist():
        image = Image.open(io.BytesIO(row["images"][0]["bytes"])).convert("RGB")
        question = row["prompt"][0]["content"].replace("<image>", "")
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
        out.append((processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True), image))
    return processor, out

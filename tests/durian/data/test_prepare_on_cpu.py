"""durian.data.prepare: Geometry3K and ViRL39K in their own column schemas -> verl RLHFDataset parquet rows."""

import io
import json
import os
import subprocess
import sys
import zipfile

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from durian.data import prepare as data
from durian.prompt import IMAGE_PLACEHOLDER, THINKING_INSTRUCTION

COLUMNS = ["data_source", "prompt", "images", "ability", "reward_model", "extra_info"]


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    # datasets reads these at import time; another test may have imported it first.
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_cache")


def picture(width, height, color):
    return Image.new("RGB", (width, height), color)


def decoded(row, i=0):
    return Image.open(io.BytesIO(row["images"][i]["bytes"]))


def assert_verl_columns(path, tmp_path):
    loaded = datasets.load_dataset("parquet", data_files=str(path), cache_dir=str(tmp_path / "read_cache"))["train"]
    assert loaded.column_names == COLUMNS
    return loaded


# ---- Geometry3K: hub schema {images: [Image], problem: "<image>...", answer: str} ----------------------------

GEO = {
    "train": [
        ("<image>Find x.", "3", (21, 13), "red"),
        ("<image>Find the area of the triangle.", "12.5", (30, 17), "blue"),
    ],
    "validation": [("<image>Find y.", "45", (14, 22), "green")],
    "test": [
        ("<image>Find m \\angle 2.", "\\frac{1}{2}", (18, 18), "white"),
        ("<image>Find z.", "7", (9, 31), "black"),
    ],
}
GEO_FEATURES = datasets.Features(
    {"images": datasets.List(datasets.Image()), "problem": datasets.Value("string"), "answer": datasets.Value("string")}
)


def geometry_split(items):
    return datasets.Dataset.from_dict(
        {
            "images": [[picture(*size, color)] for _, _, size, color in items],
            "problem": [problem for problem, *_ in items],
            "answer": [answer for _, answer, *_ in items],
        },
        features=GEO_FEATURES,
    )


@pytest.fixture
def geometry_hub(tmp_path):
    root = tmp_path / "geometry3k_hub"
    (root / "data").mkdir(parents=True)
    for split, items in GEO.items():
        geometry_split(items).to_parquet(str(root / "data" / f"{split}-00000-of-00001.parquet"))
    return root


@pytest.fixture
def geometry_disk(tmp_path):
    root = tmp_path / "geometry3k_disk"
    datasets.DatasetDict({split: geometry_split(items) for split, items in GEO.items()}).save_to_disk(str(root))
    return root


@pytest.mark.parametrize("layout", ["geometry_hub", "geometry_disk"])
def test_geometry3k_rows_carry_prompt_images_answer_and_provenance(layout, request, tmp_path):
    source = request.getfixturevalue(layout)
    written = data.prepare_geometry3k(str(source), tmp_path / "out")
    assert written == {split: tmp_path / "out" / f"{split}.parquet" for split in GEO}
    for split, items in GEO.items():
        rows = data.read_rows(written[split])
        assert len(rows) == len(items)
        for index, (row, (problem, answer, size, color)) in enumerate(zip(rows, items)):
            assert list(row) == COLUMNS
            assert row["data_source"] == "hiyouga/geometry3k" and row["ability"] == "math"
            [turn] = row["prompt"]
            assert turn["role"] == "user"
            # durian.prompt.user_turn: the problem's own leading image first, then instruction and question
            assert turn["content"] == IMAGE_PLACEHOLDER + THINKING_INSTRUCTION + "\n\n" + problem.removeprefix(IMAGE_PLACEHOLDER)
            assert turn["content"].count(IMAGE_PLACEHOLDER) == 1 == len(row["images"])
            image = decoded(row)
            assert image.size == size and image.convert("RGB").getpixel((0, 0)) == Image.new(
                "RGB", (1, 1), color
            ).getpixel((0, 0))
            assert row["reward_model"] == {"style": "rule", "ground_truth": answer}
            assert row["extra_info"] == {"index": index, "split": split, "question": problem, "answer": answer}
        assert_verl_columns(written[split], tmp_path)


def test_geometry3k_splits_limit_and_append_position(geometry_hub, tmp_path):
    written = data.prepare_geometry3k(
        str(geometry_hub), tmp_path / "out", splits=("train", "test"), limit=1, prompt_position="append"
    )
    assert sorted(written) == ["test", "train"] and not (tmp_path / "out" / "validation.parquet").exists()
    [row] = data.read_rows(written["test"])
    assert row["prompt"][0]["content"] == "<image>Find m \\angle 2.\n\n" + THINKING_INSTRUCTION
    with pytest.raises(ValueError, match="no split"):
        data.prepare_geometry3k(str(geometry_hub), tmp_path / "other", splits=("dev",))


def test_geometry3k_mismatched_placeholders_and_missing_images_name_split_and_row(tmp_path):
    def hub(name, problems, images):
        root = tmp_path / name
        (root / "data").mkdir(parents=True)
        datasets.Dataset.from_dict(
            {"images": images, "problem": problems, "answer": ["1"] * len(problems)}, features=GEO_FEATURES
        ).to_parquet(str(root / "data" / "train-00000-of-00001.parquet"))
        return str(root)

    two = hub("two", ["<image>ok", "<image> and <image>"], [[picture(5, 5, "red")]] * 2)
    with pytest.raises(ValueError, match=r"split 'train' row 1: problem: holds 2 <image> placeholders for 1 images"):
        data.prepare_geometry3k(two, tmp_path / "out", splits=("train",))
    none = hub("none", ["<image>ok", "<image>ok", "no placeholder"], [[picture(5, 5, "red")]] * 3)
    with pytest.raises(ValueError, match=r"split 'train' row 2: problem: holds 0 <image>"):
        data.prepare_geometry3k(none, tmp_path / "out", splits=("train",))
    missing = hub("missing", ["<image>ok", "<image>where?"], [[picture(5, 5, "red")], []])
    with pytest.raises(ValueError, match=r"split 'train' row 1: images: none given"):
        data.prepare_geometry3k(missing, tmp_path / "out", splits=("train",))
    assert not (tmp_path / "out").exists()  # nothing half-written


# ---- ViRL39K: 39Krelease.parquet {question, answer: "\\boxed{..}", image: [relative path], ...} + images.zip --


def png_bytes(width, height, color):
    buffer = io.BytesIO()
    picture(width, height, color).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg_bytes(width, height, color):
    buffer = io.BytesIO()
    picture(width, height, color).save(buffer, format="JPEG")
    return buffer.getvalue()


VIRL = [
    # question, answer as released, bare answer, image paths, extra
    ("What is the value of x?", "\\boxed{17^\\circ}", "17^\\circ", ["images/Processed-a.png"]),
    ("<image>Which option is correct?\nA. 1\nB. 2", "\\boxed{B}", "B", ["images/Processed-b.jpg"]),
    (
        "Compare <image> with <image>. Ratio?",
        "\\boxed{\\frac{1}{2}}",
        "\\frac{1}{2}",
        ["images/Processed-c.png", "images/Processed-d.png"],
    ),
    ("How many bars exceed 10?", "4", "4", ["images/Processed-e.png"]),
]
SIZES = {"a": (23, 11), "b": (16, 24), "c": (8, 8), "d": (40, 6), "e": (12, 19)}


def virl_table(items):
    return pa.table(
        {
            "question": [q for q, *_ in items],
            "answer": [a for _, a, *_ in items],
            "PassRate_32BTrained": [0.25 * i for i in range(len(items))],
            "PassRate_7BBase": [None if i % 2 else 0.5 for i in range(len(items))],
            "category": ["(GradeSchool) Geometric"] * len(items),
            "source": ["MMK12"] * len(items),
            "qid": [f"q{i}" for i in range(len(items))],
            "image": pa.array([paths for *_, paths in items], type=pa.list_(pa.string())),
        }
    )


@pytest.fixture
def virl_release(tmp_path):
    """The release layout: metadata parquet, most images in images.zip, one already extracted beside it."""
    root = tmp_path / "ViRL39K"
    (root / "images").mkdir(parents=True)
    pq.write_table(virl_table(VIRL), root / "39Krelease.parquet")
    blobs = {}
    with zipfile.ZipFile(root / "images.zip", "w") as archive:
        for key, size in SIZES.items():
            name = f"images/Processed-{key}." + ("jpg" if key == "b" else "png")
            blobs[name] = (jpeg_bytes if key == "b" else png_bytes)(*size, "navy")
            if key == "e":
                (root / name).write_bytes(blobs[name])  # extracted, not in the archive
            else:
                archive.writestr(name, blobs[name])
    return root, blobs


def test_virl39k_rows_resolve_images_strip_boxed_answers_and_keep_metadata(virl_release, tmp_path):
    root, blobs = virl_release
    written = data.prepare_virl39k(str(root), tmp_path / "out")
    assert written == {"train": tmp_path / "out" / "train.parquet"}
    rows = data.read_rows(written["train"])
    assert len(rows) == len(VIRL)
    for index, (row, (question, _, bare, paths)) in enumerate(zip(rows, VIRL)):
        assert row["data_source"] == "TIGER-Lab/ViRL39K" and row["ability"] == "math"
        content = row["prompt"][0]["content"]
        # durian.prompt.user_turn: the question's leading images move before the instruction
        assert THINKING_INSTRUCTION in content and question.strip().removeprefix(IMAGE_PLACEHOLDER) in content
        assert content.count(IMAGE_PLACEHOLDER) == len(paths) == len(row["images"])
        for i, path in enumerate(paths):
            assert row["images"][i]["bytes"] == blobs[path]  # encoded files pass through unchanged
            # EasyR1's training bounds, read by qwen_vl_utils.fetch_image in verl's dataset
            assert (row["images"][i]["min_pixels"], row["images"][i]["max_pixels"]) == (262_144, 4_194_304)
            assert decoded(row, i).size == SIZES[path.split("-")[1][0]]
        assert row["reward_model"] == {"style": "rule", "ground_truth": bare}
        extra = row["extra_info"]
        assert {k: extra[k] for k in ("index", "split", "question", "answer")} == {
            "index": index,
            "split": "train",
            "question": question,
            "answer": bare,
        }
        assert extra["qid"] == f"q{index}" and extra["source"] == "MMK12"
        assert extra["PassRate_32BTrained"] == 0.25 * index
        assert extra["PassRate_7BBase"] == (None if index % 2 else 0.5)
    assert rows[0]["prompt"][0]["content"].startswith(IMAGE_PLACEHOLDER + THINKING_INSTRUCTION)
    assert_verl_columns(written["train"], tmp_path)


def test_virl39k_reads_a_jsonl_copy_with_images_extracted_into_an_images_folder(virl_release, tmp_path):
    _, blobs = virl_release
    copy = tmp_path / "copy"
    for name, blob in blobs.items():  # unzip -d images: images/images/Processed-*.png
        (copy / "images" / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / "images" / name).write_bytes(blob)
    (copy / "virl.jsonl").write_text("".join(json.dumps(r) + "\n" for r in virl_table(VIRL).to_pylist()))
    rows = data.read_rows(data.prepare_virl39k(str(copy / "virl.jsonl"), tmp_path / "out", limit=3)["train"])
    assert [r["extra_info"]["qid"] for r in rows] == ["q0", "q1", "q2"]
    assert [len(r["images"]) for r in rows] == [1, 1, 2]


def test_virl39k_validation_split_is_deterministic_and_disjoint(virl_release, tmp_path):
    root, _ = virl_release

    def split_of(out, seed):
        written = data.prepare_virl39k(str(root), tmp_path / out, val_fraction=0.5, seed=seed)
        assert sorted(written) == ["train", "validation"]
        return {
            split: [(r["extra_info"]["index"], r["extra_info"]["split"]) for r in data.read_rows(path)]
            for split, path in written.items()
        }

    first = split_of("a", 0)
    assert first == split_of("b", 0)
    assert all(name == split for split, pairs in first.items() for _, name in pairs)
    indices = {split: [i for i, _ in pairs] for split, pairs in first.items()}
    assert len(indices["validation"]) == 2 and sorted(indices["train"] + indices["validation"]) == [0, 1, 2, 3]
    assert any(split_of(f"s{seed}", seed) != first for seed in range(1, 8))
    with pytest.raises(ValueError, match="val_fraction"):
        data.prepare_virl39k(str(root), tmp_path / "c", val_fraction=1.0)


@pytest.mark.parametrize(
    "bad, message",
    [
        (("Count.", "\\boxed{3}", []), r"train row 2: images: none given"),
        (
            ("Count.", "\\boxed{3}", ["images/Processed-zzz.png"]),
            r"train row 2: images: 'images/Processed-zzz.png' not found",
        ),
        (
            ("<image><image> Count.", "\\boxed{3}", ["images/Processed-a.png"]),
            r"train row 2: question: holds 2 <image>",
        ),
        (("Count.", "\\boxed{}", ["images/Processed-a.png"]), r"train row 2: answer: is empty"),
        (("  ", "\\boxed{3}", ["images/Processed-a.png"]), r"train row 2: question: is empty"),
    ],
)
def test_virl39k_bad_rows_name_the_row(virl_release, tmp_path, bad, message):
    root, _ = virl_release
    pq.write_table(virl_table(VIRL[:2] + [bad]), root / "39Krelease.parquet")
    with pytest.raises(ValueError, match=message):
        data.prepare_virl39k(str(root), tmp_path / "out")


def test_strip_boxed_only_removes_one_whole_wrapper():
    assert data.strip_boxed("\\boxed{\\frac{1}{2}}") == "\\frac{1}{2}"
    assert data.strip_boxed(" $\\boxed{ 5 }$ ") == "5"
    assert data.strip_boxed("\\boxed{1} and \\boxed{2}") == "\\boxed{1} and \\boxed{2}"
    assert data.strip_boxed("x = \\boxed{3}") == "x = \\boxed{3}"
    assert data.strip_boxed("\\boxed{unclosed") == "\\boxed{unclosed"


# ---- make_row / write_rows --------------------------------------------------------------------------------


def test_make_row_accepts_pil_bytes_and_dicts_and_validates(tmp_path):
    jpeg = jpeg_bytes(7, 9, "red")
    (tmp_path / "p.png").write_bytes(png_bytes(4, 6, "blue"))
    row = data.make_row(
        question="Find x.",
        images=[picture(3, 5, "red"), jpeg, {"bytes": None, "path": str(tmp_path / "p.png")}],
        answer="2",
        data_source="src",
        split="test",
        index=7,
        extra={"qid": "q"},
    )
    assert list(row) == COLUMNS
    assert row["prompt"][0]["content"].startswith(IMAGE_PLACEHOLDER * 3 + THINKING_INSTRUCTION)
    assert decoded(row, 0).format == "PNG" and decoded(row, 0).size == (3, 5)
    assert row["images"][1] == {"bytes": jpeg} and decoded(row, 2).size == (4, 6)
    assert row["extra_info"] == {"index": 7, "split": "test", "question": "Find x.", "answer": "2", "qid": "q"}
    common = {"data_source": "s", "split": "train", "index": 41}
    with pytest.raises(ValueError, match="row 41: question: is empty"):
        data.make_row(question=" ", images=[jpeg], answer="1", **common)
    with pytest.raises(ValueError, match="row 41: answer: is empty"):
        data.make_row(question="q", images=[jpeg], answer="", **common)
    with pytest.raises(ValueError, match="row 41: images: none given"):
        data.make_row(question="q", images=[], answer="1", **common)
    with pytest.raises(ValueError, match="row 41: images: not a decodable image"):
        data.make_row(question="q", images=[b"not an image"], answer="1", **common)


def test_write_rows_is_atomic_and_refuses_to_overwrite(tmp_path):
    row = data.make_row(
        question="q", images=[picture(2, 2, "red")], answer="1", data_source="s", split="train", index=0
    )
    path = data.write_rows([row], tmp_path / "deep" / "er" / "train.parquet")
    assert data.read_rows(path) == [row]
    with pytest.raises(FileExistsError, match="train.parquet"):
        data.write_rows([row, row], path)
    assert len(data.read_rows(path)) == 1
    data.write_rows([row, row], path, overwrite=True)
    assert len(data.read_rows(path)) == 2
    assert sorted(p.name for p in path.parent.iterdir()) == ["train.parquet"]  # no temp files left
    with pytest.raises(ValueError, match="no rows"):
        data.write_rows([], tmp_path / "empty.parquet")


def test_prepare_refuses_existing_outputs_before_doing_any_work(geometry_hub, virl_release, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "validation.parquet").write_bytes(b"keep")
    with pytest.raises(FileExistsError, match="validation.parquet"):
        data.prepare_geometry3k(str(geometry_hub), out)
    assert sorted(p.name for p in out.iterdir()) == ["validation.parquet"]
    assert data.prepare_geometry3k(str(geometry_hub), out, overwrite=True)["validation"].read_bytes() != b"keep"
    (out / "train.parquet").write_bytes(b"keep")
    with pytest.raises(FileExistsError, match="train.parquet"):
        data.prepare_virl39k(str(virl_release[0]), out)


def test_cli_writes_files_and_prints_one_line_each(geometry_hub, virl_release, tmp_path, capsys):
    data.main(["geometry3k", "--source", str(geometry_hub), "--out", str(tmp_path / "g"), "--limit", "1"])
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"{split}: 1 rows -> {tmp_path / 'g' / f'{split}.parquet'}" for split in GEO]
    data.main(["virl39k", "--source", str(virl_release[0]), "--out", str(tmp_path / "v"), "--val-fraction", "0.25"])
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"train: 3 rows -> {tmp_path / 'v' / 'train.parquet'}",
        f"validation: 1 rows -> {tmp_path / 'v' / 'validation.parquet'}",
    ]
    with pytest.raises(FileExistsError):
        data.main(["virl39k", "--source", str(virl_release[0]), "--out", str(tmp_path / "v")])


def test_splits_may_be_comma_separated_and_the_package_runs_as_a_module(geometry_hub, tmp_path):
    data.main(["geometry3k", "--source", str(geometry_hub), "--out", str(tmp_path / "g"), "--limit", "1",
               "--splits", "train,validation"])
    assert sorted(p.name for p in (tmp_path / "g").iterdir()) == ["train.parquet", "validation.parquet"]
    result = subprocess.run([sys.executable, "-m", "durian.data", "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and "geometry3k" in result.stdout and "virl39k" in result.stdout


# ---- issue 13 item 15: rows without an answer; issue 12 item 3: training-image bounds ----------------------


def test_rows_without_an_answer_are_refused_by_name_before_anything_is_written(tmp_path):
    root = tmp_path / "geo"
    (root / "data").mkdir(parents=True)
    answers = {"train": ["1", None, "2", "  "], "validation": ["3"], "test": ["", "4"]}
    for split, values in answers.items():
        datasets.Dataset.from_dict(
            {"images": [[picture(5, 5, "red")]] * len(values), "problem": ["<image>Find x."] * len(values),
             "answer": values}, features=GEO_FEATURES,
        ).to_parquet(str(root / "data" / f"{split}-00000-of-00001.parquet"))
    with pytest.raises(data.MissingAnswers) as caught:
        data.prepare_geometry3k(str(root), tmp_path / "out")
    assert caught.value.rows == ["train row 1: answer: is missing", "train row 3: answer: is empty",
                                 "test row 0: answer: is empty"]
    message = str(caught.value)
    assert message.startswith("geometry3k: 3 rows have a missing or empty answer") and "test row 0" in message
    assert not (tmp_path / "out").exists()  # the good train and validation splits are not written either


def test_virl39k_rows_without_an_answer_are_all_named(virl_release, tmp_path):
    root, _ = virl_release
    pq.write_table(virl_table(VIRL[:2] + [("Count.", None, ["images/Processed-a.png"]),
                                           ("Count.", "\\boxed{ }", ["images/Processed-a.png"])]),
                   root / "39Krelease.parquet")
    with pytest.raises(data.MissingAnswers, match=r"virl39k 39Krelease.parquet: 2 rows .*train row 2: answer: "
                                                  r"is missing; train row 3: answer: is empty"):
        data.prepare_virl39k(str(root), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_training_images_carry_easyr1s_pixel_bounds_unless_told_otherwise(geometry_hub, tmp_path):
    # EasyR1 @a23fb5b examples/config.yaml: min_pixels 262144, max_pixels 4194304 (an independent copy)
    [row] = data.read_rows(data.prepare_geometry3k(str(geometry_hub), tmp_path / "a", splits=("train",), limit=1)["train"])
    assert {k: v for k, v in row["images"][0].items() if k != "bytes"} == {"min_pixels": 262144, "max_pixels": 4194304}
    data.main(["geometry3k", "--source", str(geometry_hub), "--out", str(tmp_path / "b"), "--limit", "1",
               "--splits", "train", "--min-pixels", "3136", "--max-pixels", "1000000"])
    [row] = data.read_rows(tmp_path / "b" / "train.parquet")
    assert (row["images"][0]["min_pixels"], row["images"][0]["max_pixels"]) == (3136, 1000000)
    with pytest.raises(ValueError, match="need 0 < min <= max"):
        data.make_row(question="q", images=[picture(2, 2, "red")], answer="1", data_source="s", split="t", index=0,
                      min_pixels=10, max_pixels=5)

"""WeMath's four-dimensional scores and HallusionBench's question / figure accuracies on hand-built
records, every value worked out by hand from the benchmarks' definitions."""

import pytest

from eval.tasks.durian_hallusionbench.utils import hallusionbench_scores
from eval.tasks.durian_wemath.utils import wemath_scores


def wemath(group: str, key: str, correct: bool) -> dict:
    return {"group_id": group, "key": key, "correct": correct, "key_kind": key.split("_")[0]}


def test_wemath_with_one_group_of_each_kind():
    records = [
        wemath("cm", "2steps_1", True), wemath("cm", "2steps_2", True), wemath("cm", "2steps_multi", True),
        wemath("rm", "2steps_1", True), wemath("rm", "2steps_2", False), wemath("rm", "2steps_multi", True),
        wemath("ig", "2steps_1", True), wemath("ig", "2steps_2", True), wemath("ig", "2steps_multi", False),
        wemath("ik", "2steps_1", False), wemath("ik", "2steps_2", False), wemath("ik", "2steps_multi", False),
        # three steps, all wrong, composite right: RM both strictly and loosely
        wemath("rm3", "3steps_1", False), wemath("rm3", "3steps_2", False), wemath("rm3", "3steps_3", False),
        wemath("rm3", "3steps_multi", True),
        # three steps, one right, composite wrong: IK (a second one, so IK and IG cannot swap unseen)
        wemath("ik3", "3steps_1", True), wemath("ik3", "3steps_2", False), wemath("ik3", "3steps_3", False),
        wemath("ik3", "3steps_multi", False),
        wemath("cut", "3steps_1", True), wemath("cut", "3steps_multi", True),  # step 2, 3 missing: left out
        wemath("one", "1step_1", True),  # a one-step question belongs to no group
    ]
    scores = wemath_scores(records)
    # strict: CM = {cm}, RM = {rm, rm3}; loose: rm had a right step, so CM = {cm, rm}, RM = {rm3}
    assert scores == {"groups": 6, "IK": 2, "IG": 1, "CM_strict": 1, "RM_strict": 2, "CM_loose": 2, "RM_loose": 1,
                      "strict": pytest.approx((6 - 0.5 * 1 - 2 - 2) / 6),  # 0.25
                      "loose": pytest.approx((6 - 0.5 * 1 - 2 - 1) / 6)}  # 2.5 / 6
    assert scores["strict"] == pytest.approx(0.25) and scores["loose"] == pytest.approx(2.5 / 6)


def test_hallusionbench_keeps_sets_apart():
    def record(set_id, question, figure, correct, category="VD"):
        return {"category": category, "subcategory": "chart", "set_id": set_id, "question_id": question,
                "figure_id": figure, "correct": correct}

    records = [
        record("0", "0", "0", True), record("0", "0", "1", True), record("0", "1", "0", True), record("0", "1", "1", False),
        record("1", "0", "0", False), record("1", "0", "1", True),  # the same ids in another set: other pairs
    ]
    scores = hallusionbench_scores(records)
    # questions: (0,q0) all right; (0,q1), (1,q0) not -> 1/3. Figures: (0,f0), (1,f1) all right of 4 -> 1/2
    assert scores == {"aAcc": pytest.approx(4 / 6), "qAcc": pytest.approx(1 / 3), "fAcc": pytest.approx(1 / 2)}
    other_category = [record("0", "0", "0", True), record("0", "0", "0", False, category="VS")]
    assert hallusionbench_scores(other_category)["qAcc"] == pytest.approx(1 / 2)

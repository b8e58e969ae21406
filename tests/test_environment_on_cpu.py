"""Guards on the locked environment: the traps recorded in shared NOTES must fail loudly here."""

import importlib.metadata as md
import subprocess
import sys
from pathlib import Path

from packaging.version import Version


def test_pinned_stack():
    assert md.version("verl") == "0.9.1"
    assert md.version("lmms-eval") == "0.7.3"
    assert md.version("torch") == "2.11.0"
    assert md.version("torchvision") == "0.26.0"


def test_the_antlr_override_held():
    # Without the override, a plain lock downgrades these to satisfy latex2sympy2's antlr pin.
    assert md.version("antlr4-python3-runtime") == "4.9.3"
    assert Version(md.version("hydra-core")) >= Version("1.3")
    assert Version(md.version("omegaconf")) >= Version("2.3")
    assert Version(md.version("math-verify")) >= Version("0.9")


def test_verl_trainer_imports_and_its_math_reward_scores_correct_answers():
    # A fresh process: this guards the installed environment, not what earlier tests imported
    # (after the whole suite, in-process, verl's math_verify reward was seen to return 0).
    script = (
        "import verl.trainer.main_ppo\n"  # fails when hydra/omegaconf were downgraded
        "from verl.utils.reward_score import math_verify\n"
        "print(math_verify.compute_score(r'so \\boxed{\\frac{1}{2}}', r'\\frac{1}{2}'))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "1.0"


def test_lmms_evals_mathvision_scorer_parses_latex():
    from latex2sympy2 import latex2sympy

    assert str(latex2sympy(r"\frac{1}{2}")) == "1/2"


def test_our_tests_cannot_be_shadowed_by_verls_tests_package(request):
    # verl's wheel installs a top-level `tests` package. Ours is no package (no __init__.py) and
    # pytest loads it by file path (importlib mode), so each name resolves to the right file.
    # The checkout is found independently of this file's path: pytest's rootdir (where pyproject.toml
    # is), which is git's top level when this is a git checkout.
    from importlib.machinery import PathFinder

    root = Path(request.config.rootpath).resolve()
    git = subprocess.run(["git", "-C", str(root), "rev-parse", "--show-toplevel"], capture_output=True, text=True,
                         check=False)
    if git.returncode == 0:  # a copy of the tree without .git has only pytest's word
        assert Path(git.stdout.strip()).resolve() == root
    assert (root / "pyproject.toml").is_file() and not (root / "tests" / "__init__.py").exists()
    ours = root / "tests" / "test_environment_on_cpu.py"
    assert Path(sys.modules[__name__].__file__).resolve() == ours
    assert Path(request.module.__file__).resolve() == ours
    site_tests = PathFinder.find_spec("tests")  # what `import tests` finds on sys.path: verl's
    assert site_tests is None or not Path(site_tests.origin).resolve().is_relative_to(root / "tests")

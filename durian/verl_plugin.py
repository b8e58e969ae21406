"""verl plugin entry point (group ``verl.plugins``), imported by ``import verl`` in every process.

verl swallows a plugin's import errors (logged at DEBUG), so tests assert that what each
install() sets up is really there after ``import verl``. Each step is independent: one failing
must not keep the others out.
"""

from durian import verl_cpu

verl_cpu.install()

from durian import verl_patches  # noqa: E402

verl_patches.install()

from durian import verl_hf_rollout  # noqa: E402

verl_hf_rollout.install()

from durian import verl_estimators  # noqa: E402

verl_estimators.install()

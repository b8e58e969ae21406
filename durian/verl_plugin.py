"""verl plugin entry point (group ``verl.plugins``), imported by ``import verl`` in every process.

verl swallows a plugin's import errors (logged at DEBUG), so tests assert that what each
install() sets up is really there after ``import verl``.
"""

from durian import verl_cpu

verl_cpu.install()

from durian import verl_patches  # noqa: E402

verl_patches.install()

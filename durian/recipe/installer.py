"""Run a plugin's install steps in order, each guarded: one that fails is logged loudly and the
others still install.

verl imports a ``verl.plugins`` entry point inside ``import verl`` and swallows its import errors
(logged at DEBUG), so a plugin that raised would vanish without a word; a step that raises here
is reported with ``logging.error`` and its traceback (stderr, unless the process configured
logging otherwise), and the run fails later where the missing piece is needed.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence

log = logging.getLogger("durian.plugin")


def install_steps(plugin: str, steps: Sequence[str]) -> dict[str, BaseException]:
    """``install()`` of each module in ``steps``, in order; returns the steps that failed."""
    failed: dict[str, BaseException] = {}
    for module in steps:
        try:
            importlib.import_module(module).install()
        except Exception as error:  # noqa: BLE001  (every failure is reported, none stops the others)
            failed[module] = error
            log.error("verl plugin %r: %s.install() failed; the other steps still install", plugin, module, exc_info=error)
    return failed

"""verl plugin entry point ``durian`` (group ``verl.plugins``), imported by ``import verl`` in every
process (Ray workers too): installs the recipe into verl.

Steps, in this order, each guarded (``durian.recipe.installer``: one failing is logged loudly,
the others still install; tests assert each one's effect after ``import verl``):

1. ``durian.recipe.patches``     verl#7899's position-ids fix, in every module that holds the function
2. ``durian.recipe.estimators``  the advantage estimators ``durian``, ``durian_perceptual``, ...
3. ``durian.recipe.trainer``     ``trainer.v1.trainer_mode=durian`` and the legacy trainer's hooks
4. ``durian.recipe.token_check``  transformers' image-token check fed lists, not tensors (speed only)
5. ``durian.recipe.image_memo``   the image processor's outputs remembered by image content (speed only)

Importing the trainer makes verl pick its platform: a run on another platform than verl's own
(the smoke scale's CPU world) must register it before this plugin runs. The smoke scale does so
through ``VERL_USE_EXTERNAL_MODULES=durian.world.plugin``, which verl imports before any
entry point (entry points load in name order, ``durian`` before ``durian_world``).
"""

import os

from durian.recipe.installer import install_steps, log

STEPS = ("durian.recipe.patches", "durian.recipe.estimators", "durian.recipe.trainer", "durian.recipe.token_check",
         "durian.recipe.image_memo")


def install() -> dict[str, BaseException]:
    failed = install_steps("durian", STEPS)
    if "Unknown platform" in str(failed.get("durian.recipe.trainer", "")):
        log.error("VERL_PLATFORM=%s was not registered before the durian plugin ran: have verl import the module "
                  "registering it first (VERL_USE_EXTERNAL_MODULES=durian.world.plugin for the CPU world)",
                  os.environ.get("VERL_PLATFORM"))
    return failed


install()

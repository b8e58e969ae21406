"""verl plugin entry point ``durian_world`` (group ``verl.plugins``): the CPU world's verl shims.

Steps, in this order, each guarded like the recipe's (``durian.recipe.installer``):

1. ``durian.world.cpu_platform``  the ``cpu`` platform (registered always, used only with
   ``VERL_PLATFORM=cpu``)
2. ``durian.world.hf_rollout``    the ``hf`` rollout backend (``actor_rollout_ref.rollout.name=hf``)
3. ``durian.world.logprobs``      verl's token log-probs without its row loop (speed only, and only
   with ``VERL_PLATFORM=cpu``)

None changes a GPU run. The smoke scale also names this module in ``VERL_USE_EXTERNAL_MODULES``
so that it runs before the recipe's plugin (see ``durian.recipe.plugin``); installing twice is a no-op.
"""

from durian.recipe.installer import install_steps

STEPS = ("durian.world.cpu_platform", "durian.world.hf_rollout", "durian.world.logprobs")


def install() -> dict[str, BaseException]:
    return install_steps("durian_world", STEPS)


install()

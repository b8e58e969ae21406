"""The run's entry point (``python -m durian.recipe.main_ppo <overrides>``, started by the launcher):
verl's own ``verl.trainer.main_ppo`` with :func:`durian.recipe.launch.validate` first, in verl's
process and before Ray starts. verl's checks need ``import verl`` (~10 s on 2 cores); the launcher
runs only the recipe's rules and leaves verl's to the process that imports verl anyway.

A config the checks refuse ends the process with ``EX_CONFIG`` and one line naming the key, which the
launcher reports as its own refusal (`durian.train: invalid config: ...`, exit 2).
"""

from __future__ import annotations

import sys
import traceback

import hydra
from omegaconf import DictConfig
from verl.trainer import main_ppo as verl_main_ppo

from durian.recipe.launch import one_line, validate, verl_config_dir
from durian.recipe.verl_process import EX_CONFIG, INVALID_CONFIG


@hydra.main(config_path=str(verl_config_dir()), config_name="ppo_trainer", version_base=None)
def main(config: DictConfig) -> None:
    try:
        validate(config)
    except Exception as error:  # noqa: BLE001 (verl's dataclasses raise several kinds; each names its key)
        traceback.print_exc()  # into train.log, in case the error is not the config's
        print(f"{INVALID_CONFIG}{one_line(error)}", file=sys.stderr, flush=True)
        sys.exit(EX_CONFIG)
    verl_main_ppo.main.__wrapped__(config)  # verl's body of main, under this process's Hydra config


if __name__ == "__main__":
    main()

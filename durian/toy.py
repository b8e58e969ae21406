"""``python -m durian.toy --out DIR [--seed N] [--check]``: build the smoke world (see :mod:`durian.world.build`)."""

from durian.world.build import main

if __name__ == "__main__":
    main()

"""``python -m durian.toy --out DIR [--seed N] [--check]``: build the smoke world (see :mod:`durian.world.build`).

A folder that holds a world of another config (or code version) is refused in one line and left as it is."""

import sys

from durian.world.build import main

if __name__ == "__main__":
    try:
        main()
    except FileExistsError as error:
        print(f"python -m durian.toy: {error}", file=sys.stderr)
        sys.exit(2)

"""``python -m durian.train --scale S --arm A ...``: train one arm with verl (see :mod:`durian.recipe.launch`)."""

from durian.recipe.launch import main

if __name__ == "__main__":
    main()

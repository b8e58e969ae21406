"""``python -m durian.data geometry3k|virl39k ...``: see :mod:`durian.data.prepare`."""

from durian.data.prepare import main

main()

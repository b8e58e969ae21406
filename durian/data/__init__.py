"""Data preparation: Geometry3K and ViRL39K as verl rows (``durian.data.prepare``, ``python -m durian.data``)
and the visual-entropy precompute (``durian.data.precompute``, ``python -m durian.data.precompute``)."""

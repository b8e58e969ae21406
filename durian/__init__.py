"""Durian: difficulty-aware group normalization for GRPO/DAPO, reproduced on verl."""

__version__ = "0.1.0"

"""The project's own CPU world: a tiny Qwen2.5-VL, a learnable visual task, its warm start, and the
verl shims (CPU platform, hf rollout) that let verl's real trainer run on it."""

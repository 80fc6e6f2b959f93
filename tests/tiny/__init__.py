"""Builders for tiny random-weight checkpoints of the real architectures, saved with save_pretrained."""

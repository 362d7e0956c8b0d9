"""Self-training for semantic segmentation in JAX/Flax."""

"""Self-training for semantic segmentation in JAX/Flax."""
from stseg_jax import host_memory

host_memory.apply()

"""jaxpg: vectorized policy-gradient reinforcement learning in JAX."""

from jaxpg.envs import make_env

__version__ = "0.1.0"

__all__ = ["make_env"]

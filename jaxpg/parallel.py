"""Data-parallel training over many devices with JAX's own SPMD (`jax.sharding`).

Pass a mesh to `jaxpg.make_train` (or `jaxpg.make_trainer`) and the environment batch is split
across the mesh's devices along one axis; everything else stays as it is::

    mesh = jaxpg.data_parallel_mesh()                 # every device, one axis named "batch"
    train = jaxpg.make_train(config, env, env_params, mesh=mesh)
    result = jax.jit(train)(jax.random.key(0))        # config.num_envs is the global count
    results = jax.jit(jax.vmap(train))(keys)          # seeds on top: the seed axis is not split

How: `make_train` pins the rollout state (leaves ``[B, ...]``) to ``P(axis)``, the time-major
trajectory (leaves ``[T, B, ...]``) to ``P(None, axis)`` and the agent (parameters and
optimiser states) to replicated, with `jax.lax.with_sharding_constraint`. Under `jax.jit` the
SPMD partitioner then steps each device's environments on that device and inserts the
all-reduces for every mean over the batch: policy gradients, Fisher-vector products, the KL,
advantage normalisation, value losses and episode statistics. No algorithm calls a collective
itself, so the algorithms are the same code with and without a mesh, and the result equals the
one-device result with the same total batch up to floating-point reassociation (random draws
do not depend on the sharding under jax's default ``jax_threefry_partitionable=True``).

What stays unsplit: steps that flatten ``[T, B]`` into one sample axis or draw samples across
environments run on the gathered batch, replicated on every device: PPO's shuffled minibatches,
TRPO's value fits, any random subset of states (the vine's rollout set). The partitioner
chooses this; the rollout, the advantages and the policy's gradients, Fisher-vector products
and KL over the trajectory are split.

Multi-host: call `jax.distributed.initialize()` first in every process, then build the mesh over
`jax.devices()` (all hosts' devices) and run the same program in every process, passing the
same key. Replicated outputs (metrics, parameters) are readable on every host; the sharded
rollout state is not fully addressable on any one host
(`jax.experimental.multihost_utils.process_allgather` gathers it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

#: The default name of the mesh axis the environment batch is split along.
BATCH_AXIS = "batch"


def data_parallel_mesh(
    devices: Sequence[jax.Device] | None = None, axis_name: str = BATCH_AXIS
) -> Mesh:
    """A one-axis mesh over ``devices`` for data-parallel training.

    Args:
        devices: the devices to split the environments over; all of `jax.devices()` when None
            (after `jax.distributed.initialize()`, that is every host's devices).
        axis_name: the name of the mesh axis.

    Returns:
        A `jax.sharding.Mesh` of shape ``{axis_name: len(devices)}``.

    Example:
        >>> mesh = jaxpg.data_parallel_mesh()  # on a machine with one device
        >>> dict(mesh.shape)
        {'batch': 1}
    """
    devices = jax.devices() if devices is None else list(devices)
    if not devices:
        raise ValueError("devices is empty; give at least one device")
    return Mesh(np.asarray(devices), (axis_name,))


def check_mesh(mesh: Any, num_envs: int, axis_name: str = BATCH_AXIS) -> None:
    """Raises ValueError unless ``mesh`` is a `Mesh` splitting ``num_envs`` along ``axis_name``."""
    if not isinstance(mesh, Mesh):
        raise ValueError(
            f"mesh must be a jax.sharding.Mesh (see jaxpg.data_parallel_mesh); "
            f"got {type(mesh).__name__}"
        )
    check_batch_axis(num_envs, mesh.shape, axis_name)


def check_batch_axis(num_envs: int, axis_sizes: Mapping[str, int], axis_name: str) -> None:
    """Raises ValueError unless ``num_envs`` environments split evenly along ``axis_name``.

    Args:
        num_envs: the global number of environments (``config.num_envs``).
        axis_sizes: the mesh's axis sizes, ``mesh.shape``.
        axis_name: the axis to split the environments along.
    """
    if axis_name not in axis_sizes:
        raise ValueError(
            f"axis_name={axis_name!r} is not an axis of the mesh; allowed: {list(axis_sizes)}"
        )
    devices = axis_sizes[axis_name]
    if num_envs % devices:
        raise ValueError(
            f"num_envs={num_envs} must be divisible by the {devices} devices along mesh axis "
            f"{axis_name!r}; allowed: multiples of {devices}"
        )


def batch_spec(ndim: int, axis_name: str = BATCH_AXIS, batch_dim: int = 0) -> PartitionSpec:
    """``PartitionSpec`` splitting dimension ``batch_dim`` of an ``ndim``-array along the axis.

    Arrays with no dimension ``batch_dim`` are replicated.
    """
    if ndim <= batch_dim:
        return PartitionSpec()
    return PartitionSpec(*([None] * batch_dim), axis_name)


def shard_batch(tree: Any, mesh: Mesh, axis_name: str = BATCH_AXIS, batch_dim: int = 0) -> Any:
    """Constrains every leaf of ``tree`` to be split along dimension ``batch_dim``.

    Use ``batch_dim=0`` for a `jaxpg.rollout.RolloutState` (leaves ``[B, ...]``) and
    ``batch_dim=1`` for a time-major `jaxpg.rollout.Trajectory` (leaves ``[T, B, ...]``).
    Inside `jax.jit` this is `jax.lax.with_sharding_constraint`; under `jax.vmap` the mapped
    dimension is left unsplit.

    Args:
        tree: a pytree of arrays.
        mesh: the mesh.
        axis_name: the mesh axis to split along.
        batch_dim: the dimension holding the environments.

    Returns:
        The same values, constrained.
    """
    return jax.tree.map(
        lambda leaf: jax.lax.with_sharding_constraint(
            leaf, NamedSharding(mesh, batch_spec(jnp.ndim(leaf), axis_name, batch_dim))
        ),
        tree,
    )


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Constrains every leaf of ``tree`` to be replicated on every device of ``mesh``."""
    sharding = NamedSharding(mesh, PartitionSpec())
    return jax.tree.map(lambda leaf: jax.lax.with_sharding_constraint(leaf, sharding), tree)

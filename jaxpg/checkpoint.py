"""Checkpoints: a `TrainState` (and optionally its config, metrics and metadata) in one file.

A checkpoint holds every leaf of a `jaxpg.TrainState` (PRNG keys included, stored as their raw
key data), the config it was trained with, the metrics recorded so far and free-form JSON
metadata (the CLI keeps the environment id and seeds there). It is written with flax's msgpack
serialization (`flax.serialization.msgpack_serialize`), never with pickle, so loading a
checkpoint cannot execute code. Writes are atomic: the bytes go to a temporary file that then
replaces the target (`os.replace`), so an interrupted save leaves the previous checkpoint intact.

Restoring needs a *target*: the structure to fill, which the caller knows (its trainer, its
networks, its environment), so any run can be restored, on any environment, with any network::

    >>> trainer = jaxpg.make_trainer(config, env, env_params, policy=my_policy)
    >>> state, metrics = jax.jit(trainer.run, static_argnums=1)(trainer.init(key), 10)
    >>> jaxpg.checkpoint.save("run.msgpack", state, config=config, metrics=metrics)
    >>> restored = jaxpg.checkpoint.restore("run.msgpack", trainer.template)
    >>> state = restored.state

The target is a pytree of arrays or `jax.ShapeDtypeStruct` (``trainer.template(batch_shape)``),
or a function ``batch_shape -> pytree`` (``trainer.template`` itself), called with the batch
shape stored in the file (the leading axes of a state batched over seeds). A file whose arrays
do not fit the target is refused with the leaves named, so a checkpoint is never silently
paired with the wrong network or environment.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization

FORMAT = "jaxpg-checkpoint"
FORMAT_VERSION = 2


class Checkpoint(NamedTuple):
    """A restored checkpoint.

    Attributes:
        state: the state (the target's structure, leaves with leading axes ``batch_shape``).
        metrics: dict of metric name to array ``[*batch_shape, iterations]`` (may be empty).
        config: the stored config as ``{"class": name, "fields": BaseConfig.to_dict()}``, or
            None; rebuild it with ``ConfigClass.from_dict(config["fields"])``.
        metadata: free-form JSON values stored alongside (e.g. the CLI's environment id).
        batch_shape: the state's leading axes.
        jaxpg_version: the version of jaxpg that wrote the file.
    """

    state: Any
    metrics: dict[str, np.ndarray]
    config: dict[str, Any] | None
    metadata: dict[str, Any]
    batch_shape: tuple[int, ...]
    jaxpg_version: str


def _version() -> str:
    import jaxpg

    return jaxpg.__version__


def _is_key(leaf: Any) -> bool:
    return jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key)


def _leaf_name(path: Any) -> str:
    return jax.tree_util.keystr(path)


def _json_ready(value: Any) -> Any:
    """Tuples to lists and NumPy/JAX scalars to Python numbers, recursively."""
    if isinstance(value, dict):
        return {str(key): _json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(item) for item in value]
    if isinstance(value, np.ndarray | jax.Array):
        return np.asarray(value).tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _batch_shape(state: Any) -> tuple[int, ...]:
    progress = getattr(state, "progress", None)
    if progress is None or not hasattr(progress, "iteration"):
        raise ValueError(
            "state must be a jaxpg TrainState (with progress.iteration); "
            f"got {type(state).__name__}"
        )
    return tuple(np.shape(progress.iteration))


def save(
    path: str | os.PathLike,
    state: Any,
    *,
    config: Any = None,
    metrics: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Writes a checkpoint atomically (a temporary file, then `os.replace`).

    Args:
        path: the file to write (conventionally ``checkpoint.msgpack``).
        state: a `TrainState`, possibly batched over seeds (leading axes on every leaf).
        config: the config the state was trained with (a `jaxpg.config.BaseConfig`), or None.
        metrics: dict of metric name to array ``[*batch_shape, iterations]``, or None.
        metadata: JSON-ready values to keep alongside (returned by `restore`), or None.
    """
    if config is not None and not (hasattr(config, "to_dict") and hasattr(config, "validate")):
        raise ValueError(f"config must be a jaxpg config or None; got {type(config).__name__}")
    batch_shape = _batch_shape(state)
    leaves: dict[str, np.ndarray] = {}
    key_impls: dict[str, str] = {}
    for leaf_path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]:
        name = _leaf_name(leaf_path)
        if _is_key(leaf):
            key_impls[name] = str(jax.random.key_impl(leaf))
            leaf = jax.random.key_data(leaf)
        leaves[name] = np.asarray(jax.device_get(leaf))
    meta = {
        "jaxpg_version": _version(),
        "config": (
            None
            if config is None
            else {"class": type(config).__name__, "fields": _json_ready(config.to_dict())}
        ),
        "batch_shape": list(batch_shape),
        "key_impls": key_impls,
        "metadata": _json_ready(dict(metadata or {})),
    }
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        # JSON keeps the config's floats (inf included) and nesting exactly; arrays go to msgpack.
        "meta": json.dumps(meta),
        "state": leaves,
        "metrics": {name: np.asarray(value) for name, value in (metrics or {}).items()},
    }
    data = serialization.msgpack_serialize(payload)
    path = os.fspath(path)
    temporary = f"{path}.tmp{os.getpid()}"
    try:
        with open(temporary, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    finally:  # after a failure (or Ctrl-C) the previous checkpoint stays, without debris
        if os.path.exists(temporary):
            os.remove(temporary)


def _read(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, Any]]:
    """The raw payload and its decoded metadata; ValueError if it is not a jaxpg checkpoint."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ValueError(f"{path} is a directory; give the checkpoint file inside it")
    try:
        with open(path, "rb") as file:
            payload = serialization.msgpack_restore(file.read())
    except FileNotFoundError:
        raise
    except Exception as error:  # msgpack raises several unrelated types on corrupt input
        raise ValueError(f"{path} is not a jaxpg checkpoint (cannot decode it: {error})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not a jaxpg checkpoint")
    if payload.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path} has checkpoint format version {payload.get('format_version')}; this "
            f"jaxpg ({_version()}) reads version {FORMAT_VERSION}"
        )
    return payload, json.loads(payload["meta"])


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The checkpoint's header without its arrays: ``jaxpg_version``, ``config`` (``{"class",
    "fields"}`` or None), ``batch_shape``, ``key_impls`` and the user's ``metadata``."""
    return _read(path)[1]


def _restore_state(
    template: Any, leaves: dict[str, Any], key_impls: dict[str, str], path: str
) -> Any:
    paths_and_leaves, treedef = jax.tree_util.tree_flatten_with_path(template)
    expected = {_leaf_name(leaf_path) for leaf_path, _ in paths_and_leaves}
    differences = [f"missing {name}" for name in sorted(expected - set(leaves))]
    differences += [f"unexpected {name}" for name in sorted(set(leaves) - expected)]
    restored = []
    for leaf_path, spec in paths_and_leaves:
        name = _leaf_name(leaf_path)
        if name not in leaves:
            continue
        array = np.asarray(leaves[name])
        if _is_key(spec):
            data_spec = jax.eval_shape(jax.random.key_data, spec)
            if name not in key_impls or array.shape != data_spec.shape:
                differences.append(f"{name}: not the PRNG key data of shape {data_spec.shape}")
                continue
            restored.append(jax.random.wrap_key_data(jnp.asarray(array), impl=key_impls[name]))
            continue
        if array.shape != tuple(spec.shape) or array.dtype != np.dtype(spec.dtype):
            differences.append(
                f"{name} is {array.dtype}{list(array.shape)} in the file, "
                f"{np.dtype(spec.dtype)}{list(spec.shape)} expected"
            )
            continue
        restored.append(jnp.asarray(array))
    if differences:
        shown = "; ".join(differences[:5]) + ("; ..." if len(differences) > 5 else "")
        raise ValueError(
            f"checkpoint {path} does not fit the target (another network, environment, "
            f"num_envs or algorithm?): {shown}"
        )
    return jax.tree_util.tree_unflatten(treedef, restored)


def _check_config(path: str, stored: dict[str, Any] | None, config: Any) -> None:
    if stored is None:
        raise ValueError(f"checkpoint {path} holds no config to compare with")
    problems = []
    if type(config).__name__ != stored["class"]:
        problems.append(f"the config is a {stored['class']}, not {type(config).__name__}")
    else:
        given = _json_ready(config.to_dict())
        for field in sorted(set(stored["fields"]) | set(given)):
            if stored["fields"].get(field) != given.get(field):
                problems.append(
                    f"{field}={stored['fields'].get(field)!r} in the checkpoint, "
                    f"{given.get(field)!r} expected"
                )
    if problems:
        raise ValueError(f"checkpoint {path} does not match: " + "; ".join(problems))


def restore(
    path: str | os.PathLike,
    target: Any | Callable[[tuple[int, ...]], Any],
    *,
    config: Any = None,
) -> Checkpoint:
    """Reads a checkpoint written by `save` into the structure of ``target``.

    Args:
        path: the checkpoint file.
        target: the state's structure: a pytree of arrays or `jax.ShapeDtypeStruct`
            (``trainer.template((num_seeds,))``), or a function ``batch_shape -> pytree``
            (``trainer.template``), called with the batch shape stored in the file.
        config: if given, the stored config must equal it (else ValueError).

    Returns:
        A `Checkpoint` (its ``state`` has typed PRNG keys restored).

    Raises:
        ValueError: the file is not a jaxpg checkpoint, its arrays do not fit ``target`` (the
            message names the leaves), or its config differs from ``config``.
    """
    path = os.fspath(path)
    payload, meta = _read(path)
    if config is not None:
        _check_config(path, meta["config"], config)
    if meta["jaxpg_version"] != _version():
        warnings.warn(
            f"{path} was written by jaxpg {meta['jaxpg_version']}; this is {_version()} (the "
            "arrays are checked against the target)",
            stacklevel=2,
        )
    batch_shape = tuple(meta["batch_shape"])
    if callable(target):
        target = target(batch_shape)
    state = _restore_state(target, payload["state"], meta["key_impls"], path)
    metrics = {name: np.asarray(value) for name, value in payload.get("metrics", {}).items()}
    return Checkpoint(
        state=state,
        metrics=metrics,
        config=meta["config"],
        metadata=meta["metadata"],
        batch_shape=batch_shape,
        jaxpg_version=meta["jaxpg_version"],
    )

"""Checkpoints: a `TrainState` with its config and environment, in one msgpack file.

A checkpoint holds everything needed to continue a run or evaluate its policy: the algorithm
config, the environment id and options, every leaf of the `jaxpg.TrainState` (PRNG keys
included, stored as their raw key data) and optionally the metrics recorded so far. It is
written with flax's msgpack serialization (`flax.serialization.msgpack_serialize`), never with
pickle, so loading a checkpoint cannot execute code. Writes are atomic: the bytes go to a
temporary file that then replaces the target (`os.replace`), so an interrupted save leaves the
previous checkpoint intact.

    >>> state = jax.jit(trainer.init)(jax.random.key(0))
    >>> jaxpg.checkpoint.save("run.msgpack", config, "CartPole-v1", {}, state)
    >>> config, env_id, env_kwargs, state = jaxpg.checkpoint.load("run.msgpack")

The state may be batched over seeds (``jax.vmap(trainer.init)(keys)``: every leaf has leading
axes ``batch_shape``); the batch shape is stored and restored. Loading rebuilds the structure the
config and environment imply (with `jax.eval_shape`, nothing is computed) and refuses a file
whose arrays do not fit it, naming the leaf, so a checkpoint is never silently paired with the
wrong network or environment.
"""

from __future__ import annotations

import json
import os
import warnings
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization

from jaxpg.config import BaseConfig

FORMAT = "jaxpg-checkpoint"
FORMAT_VERSION = 1


class Checkpoint(NamedTuple):
    """A loaded checkpoint.

    Attributes:
        config: the algorithm config.
        env_id: the environment id given to `jaxpg.make_env`.
        env_kwargs: the environment options given to `jaxpg.make_env`.
        state: the `TrainState` (leaves with leading axes ``batch_shape``).
        metrics: dict of metric name to array ``[*batch_shape, iterations]`` (may be empty).
        metadata: free-form JSON values stored alongside (e.g. seeds, the CLI's algorithm name).
        jaxpg_version: the version of jaxpg that wrote the file.
    """

    config: BaseConfig
    env_id: str
    env_kwargs: dict[str, Any]
    state: Any
    metrics: dict[str, np.ndarray]
    metadata: dict[str, Any]
    jaxpg_version: str


def config_classes() -> dict[str, type]:
    """Config classes by class name (jaxpg's own, and any imported `BaseConfig` subclass)."""
    from jaxpg import algorithms

    classes: dict[str, type] = {}
    pending = list(BaseConfig.__subclasses__())
    while pending:
        cls = pending.pop()
        classes.setdefault(cls.__name__, cls)
        pending.extend(cls.__subclasses__())
    for name in ("VPGConfig", "ActorCriticConfig", "TRPOConfig"):
        classes[name] = getattr(algorithms, name)
    try:
        from jaxpg.algorithms.ppo import PPOConfig
    except ImportError:  # pragma: no cover - PPO is optional while it is being written
        pass
    else:
        classes["PPOConfig"] = PPOConfig
    return classes


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
    iteration = getattr(state, "iteration", None)
    if iteration is None:
        raise ValueError("state must be a jaxpg TrainState (it has no `iteration` field)")
    return tuple(np.shape(iteration))


def save(
    path: str | os.PathLike,
    config: BaseConfig,
    env_id: str,
    env_kwargs: dict[str, Any] | None,
    state: Any,
    *,
    metrics: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Writes a checkpoint atomically (a temporary file, then `os.replace`).

    Args:
        path: the file to write (conventionally ``checkpoint.msgpack``).
        config: the algorithm config the state was trained with.
        env_id: the environment id (as given to `jaxpg.make_env`).
        env_kwargs: the environment options (JSON-ready values: numbers, strings, lists).
        state: a `TrainState`, possibly batched over seeds (leading axes on every leaf).
        metrics: optional dict of metric name to array ``[*batch_shape, iterations]``.
        metadata: optional JSON-ready values to keep alongside (returned by `load_checkpoint`).
    """
    if not isinstance(config, BaseConfig):
        raise ValueError(f"config must be a jaxpg config; got {type(config).__name__}")
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
        "config_class": type(config).__name__,
        "config": config.to_dict(),
        "env_id": env_id,
        "env_kwargs": _json_ready(dict(env_kwargs or {})),
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
    """The checkpoint's metadata (config dict, env id and options, ...) without its arrays."""
    return _read(path)[1]


def config_from_dict(class_name: str, values: dict[str, Any]) -> BaseConfig:
    """Rebuilds a config from its class name and `BaseConfig.to_dict` values."""
    classes = config_classes()
    if class_name not in classes:
        raise ValueError(f"unknown config class {class_name!r}; known: {sorted(classes)}")
    return classes[class_name].from_dict(values)


def state_template(
    config: BaseConfig, env: Any, env_params: Any, batch_shape: tuple[int, ...] = ()
) -> Any:
    """The `TrainState` structure (`jax.ShapeDtypeStruct` leaves) a config and env imply.

    For a host-side (gymnasium) environment it is `jaxpg.host_train.host_state_template`'s.
    """
    from jaxpg.train import make_trainer

    if getattr(env, "RUNS_ON_HOST", False):
        from jaxpg.host_train import host_state_template

        return host_state_template(config, env, env_params, tuple(batch_shape))

    trainer = make_trainer(config, env, env_params)
    single = jax.eval_shape(trainer.init, jax.random.key(0))
    return jax.tree.map(
        lambda leaf: jax.ShapeDtypeStruct(tuple(batch_shape) + tuple(leaf.shape), leaf.dtype),
        single,
    )


def _describe_mismatch(differences: list[str], config: BaseConfig, env_id: str) -> str:
    shown = "; ".join(differences[:5]) + ("; ..." if len(differences) > 5 else "")
    return (
        f"the checkpoint does not match {type(config).__name__} "
        f"(hidden_sizes={config.hidden_sizes}, num_envs={config.num_envs}) on {env_id}: {shown}"
    )


def _restore_state(
    template: Any,
    leaves: dict[str, Any],
    key_impls: dict[str, str],
    config: BaseConfig,
    env_id: str,
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
        if array.shape != spec.shape or array.dtype != spec.dtype:
            differences.append(
                f"{name} is {array.dtype}{list(array.shape)} in the file, "
                f"{np.dtype(spec.dtype)}{list(spec.shape)} expected"
            )
            continue
        restored.append(jnp.asarray(array))
    if differences:
        raise ValueError(_describe_mismatch(differences, config, env_id))
    return jax.tree_util.tree_unflatten(treedef, restored)


def _check_expected(
    path: Any,
    meta: dict[str, Any],
    config: BaseConfig | None,
    env_id: str | None,
    env_kwargs: dict[str, Any] | None,
) -> None:
    problems = []
    if env_id is not None and env_id != meta["env_id"]:
        problems.append(f"env_id is {meta['env_id']!r}, not {env_id!r}")
    if env_kwargs is not None and _json_ready(dict(env_kwargs)) != meta["env_kwargs"]:
        problems.append(f"env_kwargs are {meta['env_kwargs']}, not {_json_ready(env_kwargs)}")
    if config is not None:
        if type(config).__name__ != meta["config_class"]:
            problems.append(f"the config is a {meta['config_class']}, not {type(config).__name__}")
        else:
            stored, given = meta["config"], _json_ready(config.to_dict())
            for field in sorted(set(stored) | set(given)):
                if stored.get(field) != given.get(field):
                    problems.append(
                        f"{field}={stored.get(field)!r} in the checkpoint, "
                        f"{given.get(field)!r} expected"
                    )
    if problems:
        raise ValueError(f"checkpoint {os.fspath(path)} does not match: " + "; ".join(problems))


def load_checkpoint(
    path: str | os.PathLike,
    *,
    config: BaseConfig | None = None,
    env_id: str | None = None,
    env_kwargs: dict[str, Any] | None = None,
) -> Checkpoint:
    """Reads a checkpoint written by `save`.

    Args:
        path: the checkpoint file.
        config: if given, the checkpoint's config must equal it (else ValueError).
        env_id: if given, the checkpoint's environment id must equal it.
        env_kwargs: if given, the checkpoint's environment options must equal them.

    Returns:
        A `Checkpoint`. Its ``state`` has the structure the stored config and environment imply,
        typed PRNG keys restored.

    Raises:
        ValueError: the file is not a jaxpg checkpoint, does not match the expectations, or its
            arrays do not fit the stored config and environment (the message names the leaves).
    """
    from jaxpg.envs import make_env

    payload, meta = _read(path)
    _check_expected(path, meta, config, env_id, env_kwargs)
    if meta["jaxpg_version"] != _version():
        warnings.warn(
            f"{os.fspath(path)} was written by jaxpg {meta['jaxpg_version']}; this is "
            f"{_version()} (the arrays are checked against the config)",
            stacklevel=2,
        )
    stored_config = config_from_dict(meta["config_class"], meta["config"])
    env, env_params = make_env(meta["env_id"], **meta["env_kwargs"])
    template = state_template(stored_config, env, env_params, tuple(meta["batch_shape"]))
    state = _restore_state(
        template, payload["state"], meta["key_impls"], stored_config, meta["env_id"]
    )
    metrics = {name: np.asarray(value) for name, value in payload.get("metrics", {}).items()}
    return Checkpoint(
        config=stored_config,
        env_id=meta["env_id"],
        env_kwargs=meta["env_kwargs"],
        state=state,
        metrics=metrics,
        metadata=meta["metadata"],
        jaxpg_version=meta["jaxpg_version"],
    )


def load(
    path: str | os.PathLike,
    *,
    config: BaseConfig | None = None,
    env_id: str | None = None,
    env_kwargs: dict[str, Any] | None = None,
) -> tuple[BaseConfig, str, dict[str, Any], Any]:
    """``(config, env_id, env_kwargs, state)`` from a checkpoint (see `load_checkpoint`)."""
    checkpoint = load_checkpoint(path, config=config, env_id=env_id, env_kwargs=env_kwargs)
    return checkpoint.config, checkpoint.env_id, checkpoint.env_kwargs, checkpoint.state

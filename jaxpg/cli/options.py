"""Command-line values: algorithm names and config classes, ``--set`` and ``--env-set``
parsing, the validated config, environments, every run's PRNG keys, and the user error
`CLIError`."""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import jax

ALGORITHM_NAMES = ("vpg", "maxent", "a2c", "trpo", "npg", "ppo")


#: Default number of chunks (progress updates and checkpoints) in a run.
TARGET_CHUNKS = 20
#: Evaluations during a CLI run, unless told otherwise (`default_eval_every`).
TARGET_EVALUATIONS = 10


#: ``--compile`` values: ``fast`` compiles with `jaxpg.FAST_COMPILE_OPTIONS`, ``optimized``
#: with `jaxpg.COMPILER_OPTIONS`, ``auto`` picks one by the run's length
#: (`resolve_compile_mode`).
COMPILE_MODES = ("auto", "fast", "optimized")
#: ``--compile auto`` compiles ``fast`` up to this many environment steps in a run (all its
#: seeds and grid points together), ``optimized`` beyond. On 2 CPU cores the fast options
#: saved 3.2 s of compilation in a TRPO CartPole-v1 run (its three programs) and cost 0.3 s
#: per 100k steps (RESULTS "fixed_costs"): they stop paying near 1M steps.
FAST_COMPILE_MAX_STEPS = 1_000_000


def resolve_compile_mode(mode: str, env_steps: int) -> str:
    """``fast`` or ``optimized`` for ``--compile MODE`` on a run of ``env_steps`` environment
    steps (all members together)."""
    if mode == "auto":
        return "fast" if env_steps <= FAST_COMPILE_MAX_STEPS else "optimized"
    return mode


EXIT_USAGE = 2


EXIT_INTERRUPTED = 130


class CLIError(Exception):
    """A user error: printed as ``jaxpg: error: ...`` with exit status 2, no traceback."""


def algorithm_registry() -> dict[str, tuple[type, dict[str, Any]]]:
    """CLI algorithm name to (config class, defaults that differ from the class's)."""
    from jaxpg.presets import algorithms

    return algorithms()


def _did_you_mean(name: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_algorithm(name: str) -> None:
    """Refuses an unknown algorithm name, suggesting the closest; imports no jax.

    Raises:
        CLIError: ``name`` is not one of `ALGORITHM_NAMES`.
    """
    if name not in ALGORITHM_NAMES:
        raise CLIError(
            f"unknown algorithm {name!r}{_did_you_mean(name, ALGORITHM_NAMES)}; choose one of "
            f"{', '.join(ALGORITHM_NAMES)}"
        )


def check_fields(algorithm: str, names: Sequence[str], option: str = "--set") -> None:
    """Refuses names that are not fields of ``algorithm``'s config, suggesting the closest;
    imports no jax (the fields are read from the source, `jaxpg.cli.fields`).

    Raises:
        CLIError: an unknown algorithm or field (lists the known fields).
    """
    from jaxpg.cli.fields import CONFIG_CLASSES, config_fields

    check_algorithm(algorithm)
    fields = config_fields(algorithm)
    for name in names:
        if name not in fields:
            raise CLIError(
                f"{option}: unknown field {name!r} for {algorithm} "
                f"({CONFIG_CLASSES[algorithm][0]}){_did_you_mean(name, fields)}; known fields: "
                f"{', '.join(sorted(fields))}"
            )


def algorithm_entry(name: str) -> tuple[type, dict[str, Any]]:
    check_algorithm(name)
    return algorithm_registry()[name]


def config_classes() -> dict[str, type]:
    """The config classes of the CLI's algorithms, by class name (as checkpoints record them)."""
    return {cls.__name__: cls for cls, _ in algorithm_registry().values()}


def config_from_record(record: dict[str, Any] | None, source: str) -> Any:
    """Rebuilds a config from a checkpoint's ``{"class": name, "fields": to_dict()}``.

    Raises:
        CLIError: no config recorded, a class the CLI does not know, or invalid fields
            (``source`` names the file in the message).
    """
    if record is None:
        raise CLIError(f"{source} holds no config; it was not written by `jaxpg train`")
    classes = config_classes()
    if record.get("class") not in classes:
        raise CLIError(
            f"{source} holds a {record.get('class')} config; the CLI knows {', '.join(classes)}"
        )
    try:
        return classes[record["class"]].from_dict(record["fields"])
    except (ValueError, TypeError, KeyError) as error:
        raise CLIError(f"{source} holds an invalid {record['class']}: {error}") from None


class RunKeys(NamedTuple):
    """The independent PRNG keys of one seed of a run (`run_keys`)."""

    train: jax.Array
    evaluate: jax.Array
    render: jax.Array


def run_keys(seed: Any) -> RunKeys:
    """Every key the CLI uses for ``seed``: ``split(key(seed), 3)``, nothing else.

    ``train`` goes to ``trainer.init`` (JAX and host), which splits it further
    (`jaxpg.train.init_keys`); ``evaluate`` to the evaluation of the seed's policy (after
    training and in ``jaxpg eval``); ``render`` to the episode ``jaxpg eval`` shows and draws.
    Splitting once keeps the streams apart: ``fold_in(key(seed), i)`` would equal
    ``split(key(seed), n)[i]``, a key training also hands out. ``seed`` may be traced.
    """
    import jax

    train, evaluate, render = jax.random.split(jax.random.key(seed), 3)
    return RunKeys(train, evaluate, render)


def parse_value(text: str) -> Any:
    """Parses a ``--set`` value: ints, floats (``1e-3``, ``inf``), bools, ``none``, strings,
    comma-separated tuples (``64,64``; ``()`` is empty) and JSON (``[[1, 2], [3, 4]]``)."""
    text = text.strip()
    if text in ("", "()", "[]"):
        return ()
    if text[0] in "[{":
        try:
            return _lists_to_tuples(json.loads(text))
        except json.JSONDecodeError as error:
            raise CLIError(f"cannot parse {text!r} as JSON: {error}") from None
    if text[0] == "(" and text[-1] == ")":
        return tuple(parse_value(part) for part in text[1:-1].split(",") if part.strip())
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if "," in text:
        return tuple(parse_value(part) for part in text.split(",") if part.strip())
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for number in (int, float):
        try:
            return number(text)
        except ValueError:
            pass
    return text


def _lists_to_tuples(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_lists_to_tuples(item) for item in value)
    if isinstance(value, dict):
        return {key: _lists_to_tuples(item) for key, item in value.items()}
    return value


def parse_assignments(items: Sequence[str] | None, option: str) -> dict[str, Any]:
    """``["a=1", "b=x"]`` to ``{"a": 1, "b": "x"}`` with `parse_value`."""
    values: dict[str, Any] = {}
    for item in items or ():
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise CLIError(f"{option} expects name=value; got {item!r}")
        values[name.strip()] = parse_value(text)
    return values


def _coerce(default: Any, value: Any) -> Any:
    """Adapts a parsed value to the type of a field's default (``1`` for a float is ``1.0``)."""
    if isinstance(default, bool) or isinstance(value, bool):
        return value
    if isinstance(default, float) and isinstance(value, int):
        return float(value)
    if isinstance(default, int) and isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(default, tuple) and isinstance(value, int):
        return (value,)
    return value


def coerce_sets(algorithm: str, sets: dict[str, Any]) -> dict[str, Any]:
    """``--set`` values adapted to their fields' types (`_coerce`).

    Raises:
        CLIError: an unknown field (lists the known ones).
    """
    check_fields(algorithm, list(sets))
    config_class, _ = algorithm_entry(algorithm)
    fields = {field.name: field for field in dataclasses.fields(config_class)}
    return {name: _coerce(fields[name].default, value) for name, value in sets.items()}


def build_config(
    algorithm: str,
    sets: dict[str, Any] | None = None,
    total_timesteps: int | None = None,
    num_envs: int | None = None,
    preset: dict[str, Any] | None = None,
    eval_every: int | None = None,
) -> Any:
    """The validated config for a CLI algorithm name, ``--set`` values and flags, on top of
    ``preset`` (an environment's tuned fields, `jaxpg.presets`).

    Evaluation during training is on by default in the CLI: unless ``eval_every``
    (``--eval-every``), ``--set eval_every=...`` or the preset fixes it, the policy is
    evaluated `TARGET_EVALUATIONS` times per run (`default_eval_every`).

    Raises:
        CLIError: unknown algorithm (lists the valid ones), unknown field (lists the known
            ones), or an invalid value (names the field).
    """
    config_class, defaults = algorithm_entry(algorithm)
    sets = dict(sets or {})
    coerce_sets(algorithm, sets)  # unknown fields first: the clearest message
    for flag, name, value in (
        ("--total-timesteps", "total_timesteps", total_timesteps),
        ("--num-envs", "num_envs", num_envs),
        ("--eval-every", "eval_every", eval_every),
    ):
        if value is not None:
            if name in sets:
                raise CLIError(f"{name} is given twice (--set {name}=... and {flag})")
            sets[name] = value
    if algorithm in ("trpo", "npg") and "line_search" in sets:
        wanted = "trpo" if sets["line_search"] is True else "npg"
        if wanted != algorithm:
            raise CLIError(
                f"{algorithm} with line_search={sets['line_search']!r} is {wanted}; "
                f"run `jaxpg train {wanted}` instead"
            )
    values = {**defaults, **(preset or {}), **coerce_sets(algorithm, sets)}
    try:
        config = config_class(**values)
        if "eval_every" not in values:
            config = config.replace(eval_every=default_eval_every(config.num_iterations))
        config.validate()
    except (ValueError, TypeError) as error:
        raise CLIError(f"invalid {algorithm} config: {error}") from None
    return config


def default_eval_every(num_iterations: int) -> int:
    """The CLI's evaluation period: `TARGET_EVALUATIONS` evaluations per run (and the last)."""
    return max(1, math.ceil(num_iterations / TARGET_EVALUATIONS))


def check_count(name: str, value: int | None, low: int) -> None:
    if value is not None and value < low:
        raise CLIError(f"{name} must be >= {low}; got {value}")


def make_environment(env_id: str, env_kwargs: dict[str, Any]) -> tuple[Any, Any]:
    from jaxpg.envs import make_env

    try:
        return make_env(env_id, **env_kwargs)
    except (ValueError, ImportError) as error:
        raise CLIError(str(error)) from None


def runs_on_host(env: Any) -> bool:
    """Whether ``env`` is a gymnasium environment, trained on the host (`jaxpg.host_train`)."""
    return bool(getattr(env, "RUNS_ON_HOST", False))

"""Programs kept on disk as traced (`jaxpg.cli.stored`): loaded instead of traced, computing what
the traced program computes, and missed whenever anything they depend on differs."""

import collections
import csv
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxpg
from jaxpg import cli
from jaxpg.cli import programs, runners, stored
from jaxpg.train import batched_template, make_trainer


class Pair(NamedTuple):
    key: jax.Array
    values: dict


def _double(pair, scale):
    """A program over a NamedTuple with a key, a dict, a None and a list."""
    key, new_key = jax.random.split(pair.key)
    noise = jax.random.normal(new_key, pair.values["x"].shape)
    return Pair(key, {"x": pair.values["x"] * scale + noise, "n": None}), [scale.sum()]


def _arguments():
    pair = Pair(jax.random.key(3), {"x": jnp.arange(6.0).reshape(2, 3)})
    return pair, jnp.float32(2.0) * jnp.ones(3)


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setattr(stored, "store_directory", lambda: str(tmp_path))
    return tmp_path


def _equal(tree_a, tree_b):
    leaves_a, leaves_b = jax.tree.leaves(tree_a), jax.tree.leaves(tree_b)
    if jax.tree.structure(tree_a) != jax.tree.structure(tree_b):
        return False
    return all(
        np.array_equal(
            np.asarray(
                jax.random.key_data(a) if jnp.issubdtype(a.dtype, jax.dtypes.prng_key) else a
            ),
            np.asarray(
                jax.random.key_data(b) if jnp.issubdtype(b.dtype, jax.dtypes.prng_key) else b
            ),
        )
        for a, b in zip(leaves_a, leaves_b, strict=True)
    )


def test_a_stored_program_is_loaded_without_tracing_and_computes_the_same(store):
    args = _arguments()
    expected = jax.jit(_double)(*args)
    builds = []

    def build():
        builds.append(1)
        return _double, batched_template(args)

    first = stored.lower(("double",), build, {}).compile()
    assert _equal(first(*args), expected) and len(builds) == 1
    assert len(list(store.glob("*.program"))) == 1

    def no_build():
        raise AssertionError("traced although stored")

    second = stored.lower(("double",), no_build, {}).compile()
    assert _equal(second(*args), expected)
    with pytest.raises(ValueError, match="stored program takes"):
        second(args[0])


def test_another_key_or_compiler_option_is_another_program(store):
    args = _arguments()

    def build():
        return _double, batched_template(args)

    names = {
        stored.program_name(("double",), {}),
        stored.program_name(("double", 2), {}),
        stored.program_name(("double",), {"xla_backend_optimization_level": 1}),
    }
    assert len(names) == 3
    for key in (("double",), ("double", 2)):
        stored.lower(key, build, {}).compile()
    assert len(list(store.glob("*.program"))) == 2


def test_a_damaged_file_is_traced_again_and_replaced(store):
    args = _arguments()
    builds = []

    def build():
        builds.append(1)
        return _double, batched_template(args)

    stored.lower(("double",), build, {}).compile()
    (path,) = store.glob("*.program")
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])
    assert stored.load(str(path)) is None
    program = stored.lower(("double",), build, {}).compile()
    assert len(builds) == 2 and stored.load(str(path)) is not None
    assert _equal(program(*args), jax.jit(_double)(*args))


def test_training_state_structures_round_trip():
    config, env_kwargs = jaxpg.presets.config("trpo", "CartPole-v1")
    env, env_params = jaxpg.make_env("CartPole-v1", **env_kwargs)
    state = make_trainer(config, env, env_params).template((2,))
    for tree in (
        state,
        (None, [1, {"b": 2, "a": (3,)}], collections.OrderedDict(z=1, y=2)),
        Pair(1, {}),
    ):
        treedef = jax.tree.structure(tree)
        assert stored.decode_tree(stored.encode_tree(treedef)) == treedef


def test_structures_that_cannot_be_stored_are_refused():
    class Local(NamedTuple):
        value: int

    with pytest.raises(stored.Unstorable, match="cannot be imported"):
        stored.encode_tree(jax.tree.structure(Local(1)))
    # such a program is traced on every call, and still computes the same
    function = lambda local: Local(local.value + 1)  # noqa: E731
    lowered = stored.lower(("local",), lambda: (function, (Local(jnp.int32(1)),)), {})
    assert lowered.compile()(Local(jnp.int32(1))) == Local(2)


def _metrics(path):
    with open(path, newline="") as file:
        return [
            {k: v for k, v in row.items() if k != "wall_seconds"} for row in csv.DictReader(file)
        ]


def test_a_repeated_command_traces_nothing_and_trains_the_same(tmp_path, capsys, monkeypatch):
    argv = [
        "train", "vpg", "--env", "CartPole-v1", "--seeds", "2", "--chunk-size", "2",
        "--total-timesteps", str(3 * 64), "--eval-episodes", "2", "--no-progress",
        "--set", "num_envs=4", "--set", "num_steps=16", "--set", "hidden_sizes=8",
        "--set", "entropy_alpha=0.0123",  # a config no other test compiles
    ]  # fmt: skip
    assert cli.main([*argv, "--out", str(tmp_path / "first")]) == 0, capsys.readouterr().err
    programs._PROGRAM_CACHE.clear()  # as in a new process

    def traced(*args, **kwargs):
        raise AssertionError("traced although stored")

    monkeypatch.setattr(runners.JaxRunner, "_init_member", traced)
    monkeypatch.setattr(programs, "_run_chunk", traced)
    monkeypatch.setattr(jaxpg.evaluation, "evaluate", traced)
    assert cli.main([*argv, "--out", str(tmp_path / "second")]) == 0, capsys.readouterr().err
    first, second = (_metrics(tmp_path / name / "metrics.csv") for name in ("first", "second"))
    assert first == second and len(first) == 6


def test_the_least_recently_used_programs_beyond_the_limit_are_removed(store, monkeypatch):
    import os
    import time

    monkeypatch.setattr(stored, "MAX_PROGRAMS", 2)
    args = _arguments()
    names = [stored.program_name(("double", index), {}) for index in range(3)]
    for index in range(2):
        stored.lower(("double", index), lambda: (_double, batched_template(args)), {})
        os.utime(store / names[index], (time.time() - 100 + index, time.time() - 100 + index))
    assert stored.load(str(store / names[0])) is not None  # used again: now the most recent
    stored.lower(("double", 2), lambda: (_double, batched_template(args)), {})
    assert sorted(path.name for path in store.glob("*.program")) == sorted([names[0], names[2]])

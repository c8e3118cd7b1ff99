"""Data-parallel training: 4 devices give the 1-device result; meshes are validated early.

The device count is fixed when jax starts (``XLA_FLAGS=--xla_force_host_platform_device_count``),
so the 4-device runs happen in a subprocess.
"""

import os
import subprocess
import sys
import textwrap

import jax
import pytest

import jaxpg
from jaxpg import parallel

_FOUR_DEVICES_SCRIPT = textwrap.dedent(
    """
    import concurrent.futures
    import sys
    import time

    import jax
    import numpy as np
    from jax.sharding import NamedSharding, PartitionSpec as P

    import jaxpg

    assert jax.device_count() == 4, jax.devices()
    assert jax.config.jax_threefry_partitionable  # random draws independent of sharding
    env, env_params = jaxpg.make_env("CartPole-v1")
    mesh = jaxpg.data_parallel_mesh()
    small = dict(num_envs=8, num_steps=32, total_timesteps=8 * 32 * 3, hidden_sizes=(16,))
    configs = {
        "trpo": jaxpg.TRPOConfig(
            **small, value_epochs=2, value_minibatches=2, cg_iters=5, max_backtracks=5
        ),
        "trpo_vine": jaxpg.TRPOConfig(
            **small,
            sampling="vine",
            vine_num_states=16,
            vine_horizon=8,
            normalize_observations=True,  # branches read the frozen statistics
            value_epochs=1,
            value_minibatches=1,
            cg_iters=5,
            max_backtracks=5,
        ),
        # Running statistics: batch moments reduced across devices, vmapped over seeds.
        "ppo": jaxpg.PPOConfig(
            **small,
            num_epochs=2,
            num_minibatches=4,
            normalize_observations=True,
            normalize_rewards=True,
        ),
    }
    configs = {name: configs[name] for name in sys.argv[1:]}
    vmapped = {"ppo"}  # trained on 2 seeds at once: with_sharding_constraint under vmap
    # Trace in turn, then compile on two threads: XLA compiles each program on one core.
    start = time.perf_counter()
    lowered, keys = {}, {}
    for name, config in configs.items():
        keys[name] = jax.random.key(0)
        if name in vmapped:
            keys[name] = jax.random.split(keys[name], 2)
        for sharded in (False, True):
            train = jaxpg.make_train(config, env, env_params, mesh=mesh if sharded else None)
            train = jax.vmap(train) if name in vmapped else train
            lowered[name, sharded] = jax.jit(train).lower(keys[name])
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        compiled = dict(zip(lowered, pool.map(lambda low: low.compile(), lowered.values())))
    print(f"compiled in {time.perf_counter() - start:.1f}s")
    for name in configs:
        one = compiled[name, False](keys[name])
        four = compiled[name, True](keys[name])
        batch = NamedSharding(mesh, P(None, "batch") if name in vmapped else P("batch"))
        batch_dim = 1 if name in vmapped else 0
        for leaf in jax.tree.leaves(four.state.rollout):
            assert leaf.sharding.is_equivalent_to(batch, leaf.ndim), (name, leaf.sharding)
            shapes = {shard.data.shape[batch_dim] for shard in leaf.addressable_shards}
            assert shapes == {2}, (name, shapes)
        for path, leaf in jax.tree.leaves_with_path(four.params):
            if "returns" in jax.tree_util.keystr(path):  # the reward scaler's, one per env
                assert leaf.sharding.is_equivalent_to(batch, leaf.ndim), (name, leaf.sharding)
                continue
            assert leaf.sharding.is_fully_replicated and len(leaf.sharding.device_set) == 4
        for leaf in jax.tree.leaves(one.state.rollout):
            assert len(leaf.sharding.device_set) == 1
        # The CG residual is round-off (1e-6 raw, up to 1e-3 with normalised observations):
        # only its size is comparable.
        tolerance = {"cg_residual": 2e-3}
        expected = jax.tree.leaves_with_path((one.params, one.metrics, one.state.rollout))
        actual = jax.tree.leaves((four.params, four.metrics, four.state.rollout))
        for (path, want), got in zip(expected, actual, strict=True):
            path = jax.tree_util.keystr(path)
            atol = max([1e-5] + [tol for key, tol in tolerance.items() if key in path])
            np.testing.assert_allclose(
                np.asarray(got), np.asarray(want), rtol=1e-4, atol=atol, err_msg=name + path
            )
        assert one.metrics["episodes_finished"].sum() > 0, name  # episodes ended and reset

    try:
        jaxpg.make_train(jaxpg.PPOConfig(num_envs=6), env, env_params, mesh=mesh)
    except ValueError as error:
        assert "num_envs=6 must be divisible by the 4 devices" in str(error), error
    else:
        raise AssertionError("num_envs=6 on 4 devices was accepted")
    print("ok")
    """
)


# Vine sampling compiles as long as TRPO and PPO together: its own subprocess shows its cost.
@pytest.mark.parametrize("names", [["trpo", "ppo"], ["trpo_vine"]], ids=["trpo-ppo", "vine"])
def test_four_devices_match_one_device(names):
    # Cheaper LLVM passes halve the compile time; both runs compile the same way.
    flags = (
        "--xla_force_host_platform_device_count=4 --xla_backend_optimization_level=0 "
        "--xla_llvm_disable_expensive_passes=true"
    )
    env = {**os.environ, "XLA_FLAGS": flags, "JAX_PLATFORMS": "cpu"}
    out = subprocess.run(
        [sys.executable, "-c", _FOUR_DEVICES_SCRIPT, *names],
        capture_output=True,
        text=True,
        env=env,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip().splitlines()[-1] == "ok", out.stdout


def test_check_batch_axis():
    parallel.check_batch_axis(8, {"batch": 4}, "batch")
    parallel.check_batch_axis(8, {"hosts": 2, "batch": 4}, "batch")
    with pytest.raises(ValueError, match=r"num_envs=6 must be divisible by the 4 devices .*"):
        parallel.check_batch_axis(6, {"batch": 4}, "batch")
    with pytest.raises(ValueError, match=r"axis_name='envs' is not an axis .*\['batch'\]"):
        parallel.check_batch_axis(8, {"batch": 4}, "envs")


def test_make_train_checks_the_mesh_before_tracing():
    env, env_params = jaxpg.make_env("CartPole-v1")
    mesh = jaxpg.data_parallel_mesh(jax.devices()[:1])
    assert mesh.shape == {"batch": 1}
    with pytest.raises(ValueError, match=r"axis_name='envs' is not an axis of the mesh"):
        jaxpg.make_train(jaxpg.PPOConfig(), env, env_params, mesh=mesh, axis_name="envs")
    with pytest.raises(ValueError, match=r"mesh must be a jax.sharding.Mesh .* got list"):
        jaxpg.make_train(jaxpg.PPOConfig(), env, env_params, mesh=jax.devices())
    with pytest.raises(ValueError, match=r"devices is empty"):
        jaxpg.data_parallel_mesh([])


def test_batch_spec():
    assert parallel.batch_spec(2) == jax.sharding.PartitionSpec("batch")
    assert parallel.batch_spec(3, "x", batch_dim=1) == jax.sharding.PartitionSpec(None, "x")
    assert parallel.batch_spec(0) == jax.sharding.PartitionSpec()

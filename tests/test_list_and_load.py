"""``jaxpg list``, closest-name suggestions for environment ids, and `jaxpg.load_policy`.

The policies are checked against a NumPy forward pass of the restored parameters (not the
library's network code), with the observation statistics applied by hand.
"""

import os
import subprocess
import sys
import types

import jax
import numpy as np
import pytest

import jaxpg
from jaxpg import cli, normalization
from jaxpg.cli import listing
from jaxpg.cli import runs as cli_runs
from jaxpg.cli.sweep import Sweep
from jaxpg.policies import _member

TINY = ["--set", "num_envs=4", "--set", "hidden_sizes=8", "--eval-episodes", "0", "--no-progress"]


def _train(out, algorithm, env_id, *options):
    argv = ["train", algorithm, "--env", env_id, "--out", str(out), *TINY, *options]
    assert cli.main([str(arg) for arg in argv]) == 0
    return out


@pytest.fixture(scope="module")
def cartpole_run(tmp_path_factory):
    """Two seeds of VPG, 4 iterations (VPG: the CLI's quickest program to compile)."""
    out = tmp_path_factory.mktemp("runs") / "vpg-cartpole"
    options = ["--total-timesteps", "1024", "--seeds", "2", "--set", "num_steps=64"]
    return _train(out, "vpg", "CartPole-v1", *options)


def _restored(run_dir):
    run = cli_runs.load_run_checkpoint(str(run_dir))
    run.runner.close()
    return run


def _mlp(params, x):
    """The default tanh MLP in NumPy: ``Dense_0 .. Dense_n`` in order, no output activation."""
    layers = sorted(
        (name, layer) for name, layer in params["params"].items() if name.startswith("Dense_")
    )
    layers = sorted(layers, key=lambda item: int(item[0].split("_")[1]))
    x = np.asarray(x, np.float64)
    for index, (_, layer) in enumerate(layers):
        x = x @ np.asarray(layer["kernel"], np.float64) + np.asarray(layer["bias"], np.float64)
        if index < len(layers) - 1:
            x = np.tanh(x)
    return x


def _torso(policy_params):
    """The MLP's parameters inside a policy's (the Gaussian head nests it one level down)."""
    inner = policy_params["params"]
    if "log_std" in inner:
        (name,) = [name for name in inner if name != "log_std"]
        return {"params": inner[name]}
    return policy_params


def test_parser_accepts_list_and_its_sections():
    parser = cli.build_parser()
    assert parser.parse_args(["list"]).section is None
    assert parser.parse_args(["list", "envs"]).section == "envs"
    with pytest.raises(SystemExit):
        parser.parse_args(["list", "everything"])


def test_help_and_list_import_no_jax():
    code = (
        "import contextlib, io, sys\n"
        "from jaxpg.cli import main\n"
        "for argv in (['--help'], ['train', '--help']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "        main(argv)\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['list']) == 0\n"
        "assert 'jax' not in sys.modules and 'gymnax' not in sys.modules, 'jax imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_list_names_algorithms_environments_and_presets(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for name in cli.ALGORITHM_NAMES:
        assert f"  {name} " in out
    for config_class in ("VPGConfig", "ActorCriticConfig", "TRPOConfig", "PPOConfig"):
        assert config_class in out
    for env_id in [*jaxpg.envs.registered_envs(), "Pendulum-v1", "Breakout-MinAtar"]:
        assert env_id in out
    for prefix in ("gymnasium:<id>", "brax:<name>", "playground:<Name>", "[brax]", "hopper"):
        assert prefix in out
    for algorithm, env_id in jaxpg.presets.available():
        assert f"{algorithm}: " in out and env_id in out
    assert jaxpg.presets.get("ppo", "Pendulum-v1").source[:40] in out

    assert cli.main(["list", "algorithms"]) == 0
    assert "Environments" not in capsys.readouterr().out


def test_gymnax_ids_read_from_source_are_gymnax_registered_envs():
    import gymnax

    assert listing._literal_ids(gymnax.registration.__file__) == list(gymnax.registered_envs)


@pytest.mark.parametrize(
    "env_id, suggestion",
    [
        ("CartPol-v1", "CartPole-v1"),
        ("cartpole-v0", "CartPole-v0"),
        ("Pendulum-v2", "Pendulum-v1"),
        ("gymnasim:LunarLander-v3", "gymnasium:LunarLander-v3"),
    ],
)
def test_unknown_env_id_suggests_the_closest(env_id, suggestion):
    with pytest.raises(ValueError, match=f"unknown env_id '{env_id}'") as error:
        jaxpg.make_env(env_id)
    assert f"(did you mean '{suggestion}'?)" in str(error.value)


def test_unknown_env_id_on_the_command_line(capsys):
    status = cli.main(["train", "trpo", "--env", "CartPol-v1", "--no-progress"])
    err = capsys.readouterr().err
    assert status == cli.EXIT_USAGE
    assert "jaxpg: error:" in err and "did you mean 'CartPole-v1'?" in err


def test_unknown_brax_and_playground_names_suggest_the_closest(monkeypatch):
    from jaxpg.envs import brax

    modules = {
        "brax.envs": types.SimpleNamespace(_envs={"hopper": None, "walker2d": None}),
        "mujoco_playground": types.SimpleNamespace(
            registry=types.SimpleNamespace(ALL_ENVS=("CheetahRun", "WalkerWalk")),
            dm_control_suite=types.SimpleNamespace(ALL_ENVS=("CheetahRun", "WalkerWalk")),
        ),
    }
    monkeypatch.setattr(brax, "_import", lambda name, hint: modules[name])
    with pytest.raises(ValueError, match=r"did you mean 'hopper'\?\); known: hopper, walker2d"):
        jaxpg.make_env("brax:Hoper")
    with pytest.raises(ValueError, match=r"did you mean 'CheetahRun'\?"):
        jaxpg.make_env("playground:CheetaRun")


def test_load_policy_greedy_is_the_argmax_of_the_logits(cartpole_run):
    run = _restored(cartpole_run)
    act = jaxpg.load_policy(cartpole_run)
    obs = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    policy_params = jax.tree.map(lambda leaf: np.asarray(leaf[0]), run.state.agent.params["policy"])
    logits = _mlp(policy_params, obs)
    assert np.ptp(logits.argmax(-1)) == 1  # both actions occur: the check can fail
    actions = np.asarray(act(obs))
    assert actions.shape == (64,) and actions.dtype == np.int32
    np.testing.assert_array_equal(actions, logits.argmax(-1))

    # One observation, a batch and a grid of them give the same actions.
    singles = np.array([int(act(row)) for row in obs[:5]])
    np.testing.assert_array_equal(singles, actions[:5])
    np.testing.assert_array_equal(np.asarray(act(obs.reshape(8, 8, 4))), actions.reshape(8, 8))

    # Seed 1 is the run's second parameter set.
    second = jax.tree.map(lambda leaf: np.asarray(leaf[1]), run.state.agent.params["policy"])
    np.testing.assert_array_equal(
        np.asarray(jaxpg.load_policy(cartpole_run, seed=1)(obs)), _mlp(second, obs).argmax(-1)
    )


def test_load_policy_samples_with_a_key_and_compiles_once(cartpole_run, monkeypatch):
    traces = []
    observe = normalization.observe
    monkeypatch.setattr(
        normalization,
        "observe",
        lambda params, obs: traces.append(obs.shape) or observe(params, obs),
    )
    act = jaxpg.load_policy(cartpole_run)
    obs = np.zeros((256, 4), np.float32)
    samples = np.asarray(act(obs, jax.random.key(1)))
    assert samples.shape == (256,) and set(np.unique(samples)) <= {0, 1}
    assert len(np.unique(samples)) == 2  # sampled, not the mode
    np.testing.assert_array_equal(np.asarray(act(obs, jax.random.key(1))), samples)
    assert not np.array_equal(np.asarray(act(obs, jax.random.key(2))), samples)
    act(obs)
    act(obs + 1.0)
    act(np.ones((256, 4)))  # float64 from NumPy: the same program
    assert traces == [(256, 4), (256, 4)]  # one trace with a key, one without


def test_load_policy_names_the_seeds_and_refuses_bad_input(cartpole_run, tmp_path):
    with pytest.raises(ValueError, match=r"trained seed\(s\) \[0, 1\], not seed 7"):
        jaxpg.load_policy(cartpole_run, seed=7)
    with pytest.raises(ValueError, match="not a sweep"):
        jaxpg.load_policy(cartpole_run, grid_point=0)
    with pytest.raises(FileNotFoundError):
        jaxpg.load_policy(tmp_path / "missing")
    with pytest.raises(ValueError, match="no checkpoint.msgpack"):
        jaxpg.load_policy(tmp_path)
    with pytest.raises(ValueError, match=r"observations of shape \[\.\.\., 4\]"):
        jaxpg.load_policy(cartpole_run)(np.zeros(3))


def test_a_sweep_member_is_chosen_by_grid_point_and_seed():
    sweep = Sweep(fields=("learning_rate",), points=((1e-3,), (1e-2,), (1e-1,)))
    run = types.SimpleNamespace(seeds=[5, 6], sweep=sweep, out_dir="runs/x")
    assert _member(run, None, 0) == 0
    assert _member(run, 6, 2) == 2 * 2 + 1
    with pytest.raises(ValueError, match=r"a sweep; .* one of 0: learning_rate=0.001; 1: "):
        _member(run, None, None)
    with pytest.raises(ValueError, match=r"\(got 3\)"):
        _member(run, 5, 3)


def _saved_run(run_dir, argv, fill):
    """A run saved by the CLI's own code (`setup_new_run`, `save_checkpoint`) without training:
    the state is the trainer's template filled by ``fill(state)`` (no program to compile)."""
    from jaxpg.cli import outputs

    args = cli.build_parser().parse_args(["train", *argv, "--out", str(run_dir)])
    run = cli_runs.setup_new_run(args)
    rng = np.random.default_rng(0)

    def leaf(spec):
        if jax.dtypes.issubdtype(spec.dtype, jax.dtypes.prng_key):
            return jax.random.split(jax.random.key(0), spec.shape)
        if np.issubdtype(spec.dtype, np.floating):
            return rng.normal(size=spec.shape).astype(spec.dtype)
        return np.zeros(spec.shape, spec.dtype)

    state = jax.tree.map(leaf, run.runner.template((len(run.seeds),)))
    run.runner.close()
    os.makedirs(run_dir)
    outputs.save_checkpoint(run, fill(state), {})
    return run_dir


def test_load_policy_box_applies_the_frozen_observation_statistics(tmp_path):
    mean, var = np.array([1.0, -2.0, 3.0], np.float32), np.array([4.0, 0.25, 9.0], np.float32)

    def with_statistics(state):
        params = dict(state.agent.params)
        norm = params["obs_norm"]
        stats = normalization.RunningMeanStd(mean[None], var[None], np.full((1,), 50.0, np.float32))
        params["obs_norm"] = norm._replace(stats=stats, clip=np.full((1,), 3.0, np.float32))
        return state._replace(agent=state.agent._replace(params=params))

    argv = ["vpg", "--env", "Pendulum-v1", "--set", "normalize_observations=true"]
    run_dir = _saved_run(tmp_path / "pendulum", [*argv, "--set", "hidden_sizes=8"], with_statistics)
    params = jax.tree.map(lambda leaf: np.asarray(leaf[0]), _restored(run_dir).state.agent.params)
    act = jaxpg.load_policy(run_dir)
    obs = np.random.default_rng(1).normal(scale=5.0, size=(32, 3)).astype(np.float32)
    normalised = np.clip((obs - mean) / np.sqrt(var + normalization.EPSILON), -3.0, 3.0)
    expected = np.clip(_mlp(_torso(params["policy"]), normalised), -2.0, 2.0)  # torque bounds
    assert 0 < np.mean(np.abs(expected) == 2.0) < 1  # some clipped, some not
    actions = np.asarray(act(obs))
    assert actions.shape == (32, 1) and actions.dtype == np.float32
    np.testing.assert_allclose(actions, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(act(obs[3])), expected[3], rtol=1e-5, atol=1e-5)
    samples = np.asarray(act(obs, jax.random.key(0)))
    assert samples.shape == (32, 1) and np.all(np.abs(samples) <= 2.0)
    assert not np.allclose(samples, actions)

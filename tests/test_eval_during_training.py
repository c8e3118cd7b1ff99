"""Evaluation during training (`BaseConfig.eval_every`): on its own key stream, on the schedule,
the same under vmap, chunking and the host trainer, and the sampled/greedy halves of its one
rollout equal to separate sampled and greedy rollouts."""

import jax
import numpy as np
import pytest

import jaxpg
from jaxpg import evaluation
from jaxpg.host_train import train_host

ITERATIONS = 7
EVERY = 3
BASE = jaxpg.PPOConfig(
    num_envs=4, num_steps=32, num_minibatches=2, num_epochs=2, total_timesteps=4 * 32 * ITERATIONS
)
EVALUATED = BASE.replace(eval_every=EVERY, eval_episodes=3)


@pytest.fixture(scope="module")
def cartpole():
    return jaxpg.make_env("CartPole-v1")


@pytest.fixture(scope="module")
def runs(cartpole):
    env, env_params = cartpole
    keys = jax.random.split(jax.random.key(3), 2)
    plain = jax.jit(jax.vmap(jaxpg.make_train(BASE, env, env_params)))(keys)
    evaluated = jax.jit(jax.vmap(jaxpg.make_train(EVALUATED, env, env_params)))(keys)
    return keys, plain, evaluated


def test_training_is_the_same_with_evaluation_on_or_off(runs):
    _, plain, evaluated = runs
    for name, values in plain.metrics.items():
        np.testing.assert_array_equal(values, evaluated.metrics[name], err_msg=name)
    for a, b in zip(jax.tree.leaves(plain.params), jax.tree.leaves(evaluated.params), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not any(name.startswith("eval_") for name in plain.metrics)


def test_evaluations_happen_every_k_iterations_and_after_the_last(runs):
    _, _, evaluated = runs
    due = [(i % EVERY == 0) or i == ITERATIONS for i in range(1, ITERATIONS + 1)]
    assert due == [False, False, True, False, False, True, True]
    for name in evaluation.EVAL_METRICS:
        values = np.asarray(evaluated.metrics[name])
        assert values.shape == (2, ITERATIONS)
        np.testing.assert_array_equal(np.isfinite(values), np.array([due, due]), err_msg=name)
    returns = np.asarray(evaluated.metrics["eval_greedy_return"])[:, np.array(due)]
    assert (returns >= 1).all() and (returns <= 500).all()  # CartPole returns: whole episodes


def test_vmap_equals_a_loop_over_seeds(runs, cartpole):
    keys, _, evaluated = runs
    env, env_params = cartpole
    train = jax.jit(jaxpg.make_train(EVALUATED, env, env_params))
    for index in range(2):
        single = train(keys[index])
        for name in evaluation.EVAL_METRICS:
            np.testing.assert_allclose(
                single.metrics[name], evaluated.metrics[name][index], rtol=1e-5, err_msg=name
            )


def test_chunks_on_the_global_schedule_equal_one_whole_run(runs, cartpole):
    keys, _, evaluated = runs
    env, env_params = cartpole
    trainer = jaxpg.make_trainer(EVALUATED, env, env_params)
    run = jax.jit(trainer.run, static_argnums=1)
    state = jax.jit(trainer.init)(keys[0])
    pieces = []
    for first, count in ((0, 2), (2, 2), (4, 2), (6, 1)):  # not multiples of eval_every
        state, metrics = run(state, count, first)
        pieces.append(metrics)
    for name in evaluation.EVAL_METRICS:
        chunked = np.concatenate([np.asarray(piece[name]) for piece in pieces])
        np.testing.assert_allclose(chunked, evaluated.metrics[name][0], rtol=1e-5, err_msg=name)


def test_one_rollout_of_sampled_and_greedy_halves_equals_separate_rollouts(runs, cartpole):
    _, _, evaluated = runs
    env, env_params = cartpole
    policy = jaxpg.networks.default_policy(EVALUATED, env, env_params)
    params = jax.tree.map(lambda leaf: leaf[0], evaluated.params)
    key = jax.random.key(11)

    def play(greedy):
        return evaluation.episode_returns(env, env_params, policy, params, key, 6, greedy, 200)

    np.testing.assert_array_equal(play(np.zeros(6, bool)), play(False))
    np.testing.assert_array_equal(play(np.ones(6, bool)), play(True))
    mixed = play(np.arange(6) >= 3)
    # Greedy episodes do not depend on the action keys: the mixed rollout's greedy half is
    # the all-greedy rollout's (same initial states).
    np.testing.assert_array_equal(mixed[3:], play(True)[3:])


def test_host_trainer_evaluates_on_the_same_schedule():
    env, env_params = jaxpg.make_env("gymnasium:CartPole-v1")
    result = train_host(EVALUATED, env, env_params, jax.random.key(0))
    due = np.array([(i % EVERY == 0) or i == ITERATIONS for i in range(1, ITERATIONS + 1)])
    for name in evaluation.EVAL_METRICS:
        np.testing.assert_array_equal(np.isfinite(result.metrics[name]), due, err_msg=name)


def test_an_environment_without_a_time_limit_is_refused_with_eval_every(cartpole):
    env, _ = cartpole
    with pytest.raises(ValueError, match="eval_every=3 needs the episodes' time limit"):
        evaluation.eval_horizon(EVALUATED, env, object())  # params with no max_steps_in_episode


def test_cli_summary_and_metrics_lead_with_evaluation(tmp_path, capsys):
    from jaxpg.cli import main

    out = tmp_path / "run"
    status = main(
        [
            "train", "ppo", "--env", "CartPole-v1", "--total-timesteps", str(4 * 32 * 5),
            "--set", "num_envs=4", "--set", "num_steps=32", "--set", "num_minibatches=2",
            "--eval-every", "2", "--eval-episodes", "4", "--no-progress", "--out", str(out),
        ]
    )  # fmt: skip
    assert status == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    first_eval = next(i for i, line in enumerate(lines) if line.startswith("evaluation after"))
    during = next(i for i, line in enumerate(lines) if line.startswith("evaluation during"))
    training = next(i for i, line in enumerate(lines) if line.startswith("training episodes"))
    assert first_eval < during < training
    assert "after iteration 5" in lines[during]
    import csv

    with open(out / "metrics.csv") as file:
        rows = list(csv.DictReader(file))
    evaluated = [row["iteration"] for row in rows if row["eval_greedy_return"] not in ("", "nan")]
    assert evaluated == ["2", "4", "5"]


def test_cli_run_with_its_own_evaluation_program_equals_make_train(tmp_path, capsys):
    """The CLI evaluates in a program of its own between chunks (chunks of 3 here, evaluations
    every 2 iterations: the chunks are cut there). Its parameters, returns and evaluations
    equal ``vmap(make_train)``'s with the same config over the run's train keys, bit for bit;
    diagnostics computed in another program may differ in the last bit."""
    import csv
    import json

    from jaxpg import checkpoint, cli

    out = tmp_path / "run"
    status = cli.main(
        [
            "train", "ppo", "--env", "CartPole-v1", "--total-timesteps", str(4 * 32 * 5),
            "--set", "num_envs=4", "--set", "num_steps=32", "--set", "num_minibatches=2",
            "--set", "num_epochs=2", "--set", "eval_episodes=3", "--eval-every", "2",
            "--seeds", "2", "--chunk-size", "3", "--eval-episodes", "0", "--no-progress",
            "--out", str(out),
        ]
    )  # fmt: skip
    assert status == 0
    capsys.readouterr()
    record = json.loads((out / "config.json").read_text())
    config = jaxpg.PPOConfig.from_dict(record["config"])
    assert (config.eval_every, config.eval_episodes, config.num_iterations) == (2, 3, 5)
    env, env_params = jaxpg.make_env("CartPole-v1")
    keys = jax.numpy.stack([cli.run_keys(seed).train for seed in (0, 1)])
    assert record["compile"] == "fast"  # a short run: --compile auto
    train = jax.vmap(jaxpg.make_train(config, env, env_params))
    expected = jax.jit(train, compiler_options=jaxpg.FAST_COMPILE_OPTIONS)(keys)

    trainer = jaxpg.make_trainer(config, env, env_params)
    saved = checkpoint.restore(out / "checkpoint.msgpack", trainer.template).state
    for a, b in zip(
        jax.tree.leaves(saved.agent), jax.tree.leaves(expected.state.agent), strict=True
    ):
        np.testing.assert_array_equal(a, b)
    with open(out / "metrics.csv") as file:
        rows = list(csv.DictReader(file))
    assert [row["iteration"] for row in rows] == [str(i // 2 + 1) for i in range(10)]
    exact = {"episode_return", "episode_length", "env_steps", *evaluation.EVAL_METRICS}
    for name, values in expected.metrics.items():
        got = np.array([np.float32(row[name]) for row in rows]).reshape(5, 2).T
        values = np.asarray(values, np.float32)
        if name in exact:
            np.testing.assert_array_equal(got, values, err_msg=name)
        else:
            np.testing.assert_allclose(got, values, rtol=1e-6, atol=1e-9, err_msg=name)
    evaluated = np.isfinite(expected.metrics["eval_return"])
    assert evaluated.tolist() == [[False, True, False, True, True]] * 2  # 2, 4 and the last

"""rejax PPO on gymnax CartPole-v1 with rejax's own tuned CartPole config.

A peer baseline for benchmarks: it does not import jaxpg. It is the JAX PPO that
``jaxpg.PPOConfig`` is compared against (`benchmarks/bench_ppo_rejax.py`), for environment
steps per second of a whole training run and for compile time.

Settings, from rejax's ``configs/gymnax/cartpole.yaml`` (entry ``ppo``): ``env: CartPole-v1,
agent_kwargs: {activation: tanh}, num_envs: 5, num_steps: 100, num_epochs: 5,
num_minibatches: 5, learning_rate: 0.00075, max_grad_norm: 0.5, total_timesteps: 100_000,
gamma: 0.99, gae_lambda: 0.95, clip_eps: 0.2, ent_coef: 0.01, vf_coef: 0.5``; the networks
are rejax's default 64x64. Two changes, both to measure training alone:

* the periodic evaluation is off: ``eval_freq = total_timesteps``, no initial evaluation, and
  the evaluation callback returns a constant (the config's ``eval_freq: 1000`` would add 100
  evaluations of 128 full episodes, several times the training's own environment steps);
* rejax 0.1.3 expects gymnax's old five-value ``step`` (``obs, state, reward, done, info``);
  gymnax 1.0 returns six (``terminated`` and ``truncated`` apart), so the environment is
  wrapped (`FiveValueStep`) to return ``terminated | truncated`` as ``done``, which is what
  rejax did with the old gymnax (it never bootstraps on truncation).

Measured with ``benchmarks/common.py``'s ``compile_and_time``, the helper every benchmark
times JAX code with (``jax.jit(algo.train)``, ahead of time so compilation is apart):

* ``compile_s``: ``jax.jit(train).lower(key).compile()``: tracing, lowering, XLA compilation;
* ``runs_s``: ``--repeats`` calls of the compiled function with fresh keys (the first run
  after compilation is ``first_run_s``, not among them); ``median_s`` and
  ``env_steps_per_s = total_timesteps / median_s``;
* with ``--vmap-seeds N``: the same for ``jax.jit(jax.vmap(algo.train))`` over N keys;
* ``final_return_mean``: after the timing, rejax's own ``evaluate`` (128 episodes, stochastic
  policy) of the last trained agent, a check that the run learned; not timed.

Run (in rejax's own environment, see README.md)::

    /work/venv-rejax/bin/python benchmarks/baselines/rejax_ppo.py --repeats 5 --vmap-seeds 8
"""

import time

_PROCESS_START = time.time()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
from importlib.metadata import version  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root
import gymnax  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import rejax  # noqa: E402
from rejax.evaluate import evaluate  # noqa: E402

from benchmarks import common  # noqa: E402  (standard library only; not jaxpg)

CARTPOLE_PPO = {
    "agent_kwargs": {"activation": "tanh"},
    "num_envs": 5,
    "num_steps": 100,
    "num_epochs": 5,
    "num_minibatches": 5,
    "learning_rate": 0.00075,
    "max_grad_norm": 0.5,
    "total_timesteps": 100_000,
    "gamma": 0.99,
    "gae_lambda": 0.95,
    "clip_eps": 0.2,
    "ent_coef": 0.01,
    "vf_coef": 0.5,
}


class FiveValueStep:
    """A gymnax 1.0 environment whose ``step`` returns gymnax 0.x's five values.

    ``done = terminated | truncated``; everything else is delegated to the wrapped environment.
    """

    def __init__(self, env):
        self._env = env

    def __getattr__(self, name):
        if name == "_env":  # not yet set (copy.deepcopy builds the object without __init__)
            raise AttributeError(name)
        return getattr(self._env, name)

    def step(self, key, state, action, params=None):
        obs, state, reward, terminated, truncated, info = self._env.step(key, state, action, params)
        return obs, state, reward, jnp.logical_or(terminated, truncated), info


def make_algo(total_timesteps: int):
    """rejax's CartPole PPO on the wrapped gymnax CartPole-v1, evaluation off."""
    env, env_params = gymnax.make("CartPole-v1")
    config = dict(CARTPOLE_PPO, total_timesteps=total_timesteps)
    algo = rejax.get_algo("ppo").create(
        env=FiveValueStep(env),
        env_params=env_params,
        eval_freq=total_timesteps,
        skip_initial_evaluation=True,
        **config,
    )
    return algo.replace(eval_callback=lambda algo, ts, key: jnp.zeros(()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total-timesteps", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--vmap-seeds", type=int, default=0, help="0: single seed only")
    parser.add_argument("--vmap-repeats", type=int, default=3)
    parser.add_argument("--eval-episodes", type=int, default=128)
    args = parser.parse_args()

    algo = make_algo(args.total_timesteps)
    steps = (
        algo.num_steps
        * algo.num_envs
        * -(-args.total_timesteps // (algo.num_steps * algo.num_envs))
    )
    record = {
        "library": "rejax",
        "versions": {name: version(name) for name in ("rejax", "jax", "jaxlib", "gymnax", "flax")},
        "python": platform.python_version(),
        "device": str(jax.devices()[0]),
        "config": {**CARTPOLE_PPO, "total_timesteps": args.total_timesteps},
        "env_steps": steps,
        "load_average_1min_start": os.getloadavg()[0],
    }
    single, (train_state, _) = common.time_on_keys(algo.train, jax.random.PRNGKey, args.repeats)
    single["env_steps_per_s"] = steps / single["median_s"]
    record["single"] = single

    if args.vmap_seeds:
        seeds = args.vmap_seeds

        def make_keys(index):
            return jax.random.split(jax.random.PRNGKey(1000 + index), seeds)

        vmapped, _ = common.time_on_keys(jax.vmap(algo.train), make_keys, args.vmap_repeats)
        vmapped["seeds"] = seeds
        vmapped["env_steps_per_s"] = seeds * steps / vmapped["median_s"]
        vmapped["seconds_per_seed"] = vmapped["median_s"] / seeds
        record["vmapped"] = vmapped

    env, env_params = gymnax.make("CartPole-v1")
    _, returns = evaluate(
        algo.make_act(train_state),
        jax.random.PRNGKey(12345),
        FiveValueStep(env),
        env_params,
        args.eval_episodes,
        env_params.max_steps_in_episode,
    )
    record["final_return_mean"] = float(returns.mean())
    record["process_s"] = time.time() - _PROCESS_START
    print(json.dumps(record))


if __name__ == "__main__":
    main()

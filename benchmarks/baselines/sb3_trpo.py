"""sb3-contrib TRPO on gymnasium CartPole-v1 with RL-Zoo's tuned hyperparameters.

A peer baseline for benchmarks: it does not import jaxpg. It is the PyTorch TRPO that
``jaxpg.TRPOConfig`` on ``CartPole-v1`` is compared against, for wall-clock to a solved
policy and for environment throughput.

Settings, from rl-baselines3-zoo ``hyperparams/trpo.yml`` (entry ``CartPole-v1``, "Tuned"):
``n_envs: 2, n_timesteps: 1e5, policy: MlpPolicy, n_steps: 512, batch_size: 512,
cg_damping: 1e-3, gae_lambda: 0.98, gamma: 0.99, learning_rate: 1e-3, n_critic_updates: 20``;
every other argument is sb3-contrib's default (``target_kl=0.01``, ``cg_max_steps=15``,
``normalize_advantage=True``, a [64, 64] tanh MLP for policy and value). The training envs
are ``make_vec_env("CartPole-v1", n_envs=2)``: a ``DummyVecEnv`` of ``Monitor``-wrapped
envs, as RL-Zoo builds them. ``device="cpu"``, torch's default thread count.

What is measured (one run per process; a driver launches several processes for repeats):

* ``process_start_to_learn_end_s``: ``time.time()`` taken at the top of this file, before any
  import, to the end of ``learn()``. It includes the imports (torch, gymnasium, sb3) and
  model construction; it excludes the interpreter's own start-up (tens of milliseconds).
* ``learn_s``: ``learn(100_000)`` alone; ``env_steps_per_s = 100_000 / learn_s``. sb3 finishes
  the rollout it is in, so it runs ``num_timesteps`` (100,352 = 98 x 1024) steps: reported too.
* ``time_to_threshold_s``: process start until the first evaluation whose mean return over
  ``--eval-episodes`` (10) episodes is >= ``--threshold`` (475, CartPole-v1's reward
  threshold). Evaluations run every ``--eval-every`` (10,000) env steps from inside
  ``learn()``, like sb3's ``EvalCallback``, on a separate one-env ``Monitor``-wrapped env.
* The evaluation callback's own time is excluded from every clock above: it is measured and
  subtracted (``eval_callback_s`` reports it; the ``*_including_eval`` fields keep it).
* Evaluation is deterministic (the most probable action), as RL-Zoo does for every
  non-Atari env (``deterministic_eval = not is_atari``); ``--stochastic-eval`` samples.
* ``final_eval_*``: 10 more episodes after ``learn()``, outside every clock.
* ``learn_cpu_s``: the process's CPU time in ``learn()`` (all threads, evaluations removed),
  and ``load_average_1min`` before and after, to tell a slow run from a busy machine.

Threads: torch's default is one intra-op thread per core (2 here). When another process
keeps the cores busy, those threads wait on each other at every small parallel op and
``learn()`` slows by five to ten times (measured on the 2-core machine at a load average of
2 to 5: 180-740 s with 2 threads against 32 s with ``--threads 1``). Benchmark on a quiet
machine, or pass ``--threads 1`` and say so, and read ``learn_cpu_s`` and
``load_average_1min`` beside the wall clock. The thread count also changes float summation
order, so the same ``--seed`` learns differently with 1 and 2 threads.

Run::

    /work/venv-peers/bin/python benchmarks/baselines/sb3_trpo.py --seed 0
"""

import time

_PROCESS_START = time.time()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root
import gymnasium  # noqa: E402
import numpy as np  # noqa: E402
import sb3_contrib  # noqa: E402
import stable_baselines3  # noqa: E402
import torch  # noqa: E402
from sb3_contrib import TRPO  # noqa: E402
from stable_baselines3.common.callbacks import BaseCallback  # noqa: E402
from stable_baselines3.common.env_util import make_vec_env  # noqa: E402
from stable_baselines3.common.evaluation import evaluate_policy  # noqa: E402

from benchmarks import common  # noqa: E402  (standard library only; not jaxpg)

_IMPORTS_DONE = time.time()

ENV_ID = "CartPole-v1"
TOTAL_TIMESTEPS = 100_000
RL_ZOO_CARTPOLE_V1 = dict(
    n_steps=512,
    batch_size=512,
    cg_damping=1e-3,
    gae_lambda=0.98,
    gamma=0.99,
    learning_rate=1e-3,
    n_critic_updates=20,
)
RL_ZOO_N_ENVS = 2


class TimedEvalCallback(BaseCallback):
    """Evaluates every ``every`` env steps and keeps a clock with the evaluation time removed."""

    def __init__(self, eval_env, every, n_episodes, deterministic, threshold):
        super().__init__()
        self.eval_env = eval_env
        self.every = every
        self.n_episodes = n_episodes
        self.deterministic = deterministic
        self.threshold = threshold
        self.next_eval = every
        self.eval_seconds = 0.0
        self.eval_cpu_seconds = 0.0
        self.curve = []
        self.time_to_threshold = None
        self.steps_to_threshold = None

    def _on_step(self) -> bool:
        if self.num_timesteps < self.next_eval:
            return True
        self.next_eval += self.every
        clock = time.time() - _PROCESS_START - self.eval_seconds
        elapsed, (mean_return, std_return) = common.timed(
            evaluate_policy,
            self.model,
            self.eval_env,
            n_eval_episodes=self.n_episodes,
            deterministic=self.deterministic,
        )
        self.eval_seconds += elapsed.seconds
        self.eval_cpu_seconds += elapsed.cpu_seconds
        self.curve.append(
            {
                "env_steps": self.num_timesteps,
                "mean_return": float(mean_return),
                "std_return": float(std_return),
                "seconds_since_start": clock,
            }
        )
        if self.time_to_threshold is None and mean_return >= self.threshold:
            self.time_to_threshold = clock
            self.steps_to_threshold = self.num_timesteps
        return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--total-timesteps", type=int, default=TOTAL_TIMESTEPS)
    parser.add_argument("--eval-every", type=int, default=10_000, help="env steps between evals")
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--threshold", type=float, default=475.0)
    parser.add_argument(
        "--stochastic-eval",
        action="store_true",
        help="sample actions in evaluation (default: deterministic, as RL-Zoo)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch.set_num_threads(N); default: torch's default (one per core)",
    )
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    deterministic = not args.stochastic_eval

    env = make_vec_env(ENV_ID, n_envs=RL_ZOO_N_ENVS, seed=args.seed)
    eval_env = make_vec_env(ENV_ID, n_envs=1, seed=args.seed + 10_000)
    model = TRPO("MlpPolicy", env, seed=args.seed, device="cpu", verbose=0, **RL_ZOO_CARTPOLE_V1)
    callback = TimedEvalCallback(
        eval_env, args.eval_every, args.eval_episodes, deterministic, args.threshold
    )

    load_before = os.getloadavg()[0]
    setup_end = time.time()
    learn, _ = common.timed(model.learn, total_timesteps=args.total_timesteps, callback=callback)
    learn_end = time.time()

    final_returns, _ = evaluate_policy(
        model,
        eval_env,
        n_eval_episodes=args.eval_episodes,
        deterministic=deterministic,
        return_episode_rewards=True,
    )
    learn_s = learn.seconds - callback.eval_seconds
    print(
        json.dumps(
            {
                "benchmark": "sb3_contrib_trpo_cartpole_v1_rlzoo",
                "seed": args.seed,
                "process_start_to_learn_end_s": learn_end - _PROCESS_START - callback.eval_seconds,
                "process_start_to_learn_end_including_eval_s": learn_end - _PROCESS_START,
                "import_s": _IMPORTS_DONE - _PROCESS_START,
                "setup_s": setup_end - _IMPORTS_DONE,
                "learn_s": learn_s,
                "learn_including_eval_s": learn.seconds,
                "learn_cpu_s": learn.cpu_seconds - callback.eval_cpu_seconds,
                "eval_callback_s": callback.eval_seconds,
                "env_steps_per_s": args.total_timesteps / learn_s,
                "total_timesteps": args.total_timesteps,
                "num_timesteps": model.num_timesteps,
                "threshold": args.threshold,
                "time_to_threshold_s": callback.time_to_threshold,
                "steps_to_threshold": callback.steps_to_threshold,
                "eval_deterministic": deterministic,
                "eval_curve": callback.curve,
                "final_eval_mean": float(np.mean(final_returns)),
                "final_eval_std": float(np.std(final_returns)),
                "final_eval_returns": [float(r) for r in final_returns],
                "hyperparameters": dict(RL_ZOO_CARTPOLE_V1, n_envs=RL_ZOO_N_ENVS),
                "load_average_1min": [load_before, os.getloadavg()[0]],
                "torch_version": torch.__version__,
                "torch_num_threads": torch.get_num_threads(),
                "sb3_version": stable_baselines3.__version__,
                "sb3_contrib_version": sb3_contrib.__version__,
                "gymnasium_version": gymnasium.__version__,
                "numpy_version": np.__version__,
                "python_version": platform.python_version(),
            }
        )
    )


if __name__ == "__main__":
    main()

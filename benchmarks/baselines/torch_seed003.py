"""Seed 003 re-created in PyTorch: vanilla policy gradient on CartPole with a Python step loop.

A peer baseline for benchmarks: it does not import jaxpg. It re-creates the seed notebook's
``train`` (the Spinning Up "simplest policy gradient" and its reward-to-go variant, Williams
1992), the one-environment Python-loop implementation that jaxpg's ``VPGConfig`` is compared
against.

Faithful to the seed:

* The network: ``mlp([obs_dim, 32, n_acts])`` with tanh hidden and identity output, a
  ``Categorical(logits=...)`` policy, Adam with learning rate 1e-2.
* One epoch: act in a single environment one step at a time (a forward pass and
  ``.sample().item()`` per step), append ``obs.copy()`` to Python lists, and after every
  finished episode stop once ``len(batch_obs) > batch_size`` (5000), so an epoch always ends
  on an episode boundary and holds a little more than 5000 steps. Weights are either the
  whole return R(tau) for every step of the episode or the reward-to-go, computed by the
  seed's reverse Python loop ``reward_to_go``. One gradient step on
  ``-(logp * weights).mean()`` over the batch, built with ``torch.as_tensor`` from the lists
  (from a list of arrays, which new torch warns is slow: about 5 ms of an epoch here; the
  warning is silenced, the cost kept).
* ``env.reset()`` at the start of every epoch, as in the seed.

Changed:

* gymnasium ``CartPole-v1`` (500-step limit) instead of gym ``CartPole-v0`` (the seed's
  run); ``--env CartPole-v0`` is accepted. gymnasium's API: ``reset`` returns
  ``(obs, info)`` and ``step`` five values; an episode ends on ``terminated or truncated``
  (the seed's single ``done``; a truncated episode is weighted like a terminated one, as in
  the seed).
* Seeding: ``torch.manual_seed(seed)`` and ``env.reset(seed=seed)`` on the first reset (the
  seed set none). No rendering, no per-epoch print: stdout carries one JSON line.

``--no-validate-args`` turns off ``torch.distributions`` argument checks, as with the
seed's torch (before 1.8); the default keeps today's behaviour.

Run::

    /work/venv-peers/bin/python benchmarks/baselines/torch_seed003.py --epochs 3 --repeats 3
    /work/venv-peers/bin/python benchmarks/baselines/torch_seed003.py --epochs 50 --repeats 1

Prints one JSON line: ``seconds_per_epoch_median`` (wall clock) and
``cpu_seconds_per_epoch_median`` (this process's CPU time) over all epochs of all repeats,
and for each repeat the per-epoch seconds, env steps, mean episode return and length, and
loss (so a 50-epoch run is also a learning curve).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root
import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from gymnasium.spaces import Box, Discrete  # noqa: E402
from torch.distributions.categorical import Categorical  # noqa: E402
from torch.optim import Adam  # noqa: E402

from benchmarks import common  # noqa: E402  (standard library only; not jaxpg)

warnings.filterwarnings("ignore", message="Creating a tensor from a list of numpy.ndarrays")


def mlp(sizes, activation=nn.Tanh, output_activation=nn.Identity):
    """The seed's feed-forward network builder."""
    layers = []
    for j in range(len(sizes) - 1):
        act = activation if j < len(sizes) - 2 else output_activation
        layers += [nn.Linear(sizes[j], sizes[j + 1]), act()]
    return nn.Sequential(*layers)


def reward_to_go(rews):
    """The seed's reverse Python loop: ``rtgs[i] = rews[i] + rtgs[i + 1]``."""
    n = len(rews)
    rtgs = np.zeros_like(rews)
    for i in reversed(range(n)):
        rtgs[i] = rews[i] + (rtgs[i + 1] if i + 1 < n else 0)
    return rtgs


def train(
    env_name="CartPole-v1",
    hidden_sizes=(32,),
    lr=1e-2,
    epochs=50,
    batch_size=5000,
    weighting="reward_to_go",
    seed=0,
):
    """The seed's ``train``; returns one record per epoch instead of printing it."""
    torch.manual_seed(seed)
    env = gym.make(env_name)
    assert isinstance(env.observation_space, Box), (
        "This example only works for envs with continuous state spaces."
    )
    assert isinstance(env.action_space, Discrete), (
        "This example only works for envs with discrete action spaces."
    )
    obs_dim = env.observation_space.shape[0]
    n_acts = env.action_space.n

    logits_net = mlp(sizes=[obs_dim] + list(hidden_sizes) + [n_acts])

    def get_policy(obs):
        return Categorical(logits=logits_net(obs))

    def get_action(obs):
        return get_policy(obs).sample().item()

    def compute_loss(obs, act, weights):
        logp = get_policy(obs).log_prob(act)
        return -(logp * weights).mean()

    optimizer = Adam(logits_net.parameters(), lr=lr)
    reset_seed = [seed]  # consumed by the first reset only

    def reset():
        obs, _ = env.reset(seed=reset_seed.pop() if reset_seed else None)
        return obs

    def train_one_epoch():
        batch_obs, batch_acts, batch_weights, batch_rets, batch_lens = [], [], [], [], []
        obs = reset()
        ep_rews = []
        while True:
            batch_obs.append(obs.copy())
            act = get_action(torch.as_tensor(obs, dtype=torch.float32))
            obs, rew, terminated, truncated, _ = env.step(act)
            batch_acts.append(act)
            ep_rews.append(rew)
            if terminated or truncated:
                ep_ret, ep_len = sum(ep_rews), len(ep_rews)
                batch_rets.append(ep_ret)
                batch_lens.append(ep_len)
                if weighting == "return":
                    batch_weights += [ep_ret] * ep_len
                else:
                    batch_weights += list(reward_to_go(ep_rews))
                obs, ep_rews = reset(), []
                if len(batch_obs) > batch_size:
                    break
        optimizer.zero_grad()
        batch_loss = compute_loss(
            obs=torch.as_tensor(batch_obs, dtype=torch.float32),
            act=torch.as_tensor(batch_acts, dtype=torch.int32),
            weights=torch.as_tensor(batch_weights, dtype=torch.float32),
        )
        batch_loss.backward()
        optimizer.step()
        return batch_loss, batch_rets, batch_lens

    records = []
    for _ in range(epochs):
        elapsed, (batch_loss, batch_rets, batch_lens) = common.timed(train_one_epoch)
        records.append(
            {
                "seconds": elapsed.seconds,
                "cpu_seconds": elapsed.cpu_seconds,
                "env_steps": int(sum(batch_lens)),
                "mean_return": float(np.mean(batch_rets)),
                "mean_length": float(np.mean(batch_lens)),
                "loss": batch_loss.item(),
            }
        )
    env.close()
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--epochs",
        type=int,
        default=3,
        help="epochs per repeat: 3 for timing, 50 for the seed's learning run",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="independent runs with seeds seed, seed+1, ..."
    )
    parser.add_argument("--weighting", choices=("return", "reward_to_go"), default="reward_to_go")
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch.set_num_threads(N); default: torch's default (one per core)",
    )
    parser.add_argument(
        "--no-validate-args",
        action="store_true",
        help="turn off torch.distributions argument checks (off by default before torch 1.8)",
    )
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.no_validate_args:
        torch.distributions.Distribution.set_default_validate_args(False)

    load_before = os.getloadavg()[0]
    runs = []
    for repeat in range(args.repeats):
        records = train(
            env_name=args.env,
            epochs=args.epochs,
            batch_size=args.batch_size,
            weighting=args.weighting,
            seed=args.seed + repeat,
        )
        runs.append(
            {
                "seed": args.seed + repeat,
                "seconds_per_epoch": [r["seconds"] for r in records],
                "cpu_seconds_per_epoch": [r["cpu_seconds"] for r in records],
                "env_steps": [r["env_steps"] for r in records],
                "mean_return": [r["mean_return"] for r in records],
                "mean_length": [r["mean_length"] for r in records],
                "loss": [r["loss"] for r in records],
            }
        )

    all_seconds = [s for run in runs for s in run["seconds_per_epoch"]]
    all_cpu_seconds = [s for run in runs for s in run["cpu_seconds_per_epoch"]]
    all_steps = [n for run in runs for n in run["env_steps"]]
    print(
        json.dumps(
            {
                "benchmark": f"torch_seed003_vpg_{args.weighting}",
                "env": args.env,
                "seconds_per_epoch_median": statistics.median(all_seconds),
                "cpu_seconds_per_epoch_median": statistics.median(all_cpu_seconds),
                "env_steps_per_s": sum(all_steps) / sum(all_seconds),
                "final_mean_return": [run["mean_return"][-1] for run in runs],
                "epochs": args.epochs,
                "repeats": args.repeats,
                "batch_size": args.batch_size,
                "weighting": args.weighting,
                "validate_args": not args.no_validate_args,
                "runs": runs,
                "load_average_1min": [load_before, os.getloadavg()[0]],
                "torch_version": torch.__version__,
                "torch_num_threads": torch.get_num_threads(),
                "gymnasium_version": gym.__version__,
                "python_version": platform.python_version(),
            }
        )
    )


if __name__ == "__main__":
    main()

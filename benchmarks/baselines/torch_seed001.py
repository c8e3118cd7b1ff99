"""Seed 001 re-created in PyTorch: maximum-entropy policy gradient on the 6x6 gridworld.

A peer baseline for benchmarks: it does not import jaxpg. It times one iteration of the
seed notebook's training loop (sample 10 trajectories of 300 steps, build the loss, one
Adam step), the per-sample Python-loop implementation that jaxpg's vectorised
``VPGConfig(entropy_alpha=...)`` on ``GridWorld-v0`` is compared against.

Faithful to the seed (kept on purpose, because they are what the seed costs):

* ``POLICY(2, 5)``: ``torch.nn.Linear`` then ``torch.nn.Softmax()`` with the implicit
  dimension (its deprecation warning is silenced, as the seed silences all warnings); a
  ``Categorical`` is built and the uniform exploration draw made on every call, with
  autograd on; ``logprob_action`` recomputes the forward pass for one (state, action) and
  clips with Python's ``min(0, log(p + 1e-4))``.
* ``GRID_WORLD.simulate_trajectory``: Python loops over samples, then time; one policy call
  and one ``step_agent`` (if/elif on a tensor action) per step; ``deepcopy`` of rewards.
  As in the seed the state is *not* reset between samples: sample k starts where sample
  k-1 ended (only the very first sample starts at ``start_state``).
* The loss: the log-likelihood filled one element at a time (time x simulations Python
  loop, each an in-place copy into a zeros tensor that autograd then walks backwards); the
  advantage as a reverse Python loop over time; the objective as a Python loop of
  ``torch.dot`` over time; Adam with learning rate 1e-2; exploration probability
  ``(10 + k) / (1 + k)**2`` at iteration k; the seed's grid, start (5, 0), T=300,
  10 samples, discount 0.99, alpha 1.

Changed:

* The entropy sign. The seed adds ``+alpha * log pi`` to the reward, an entropy *penalty*;
  here the soft reward is ``r - alpha * log pi`` (maximum entropy, Levine 2018), as in jaxpg.
  The cost is the same.
* No per-iteration ``print(..., end='\\r')`` and no plotting: stdout carries one JSON line.
  The loss and the cumulative reward per iteration are still recorded (as floats).
* The seed's unused ``self.discrete`` lambda is left out.
* Seeding: ``torch.manual_seed(seed + repeat)`` before each repeat (the seed set none).

Run with today's torch, ``torch.distributions`` validates its arguments on every
``Categorical`` and ``Uniform`` built (the default since torch 1.8; the seed's torch did
not), which is about half of the per-step cost of ``sample_action``.
``--no-validate-args`` turns that off; the default keeps it, as the seed's code gets it now.

Run::

    /work/venv-peers/bin/python benchmarks/baselines/torch_seed001.py --iterations 5 --repeats 3

Prints one JSON line: ``seconds_per_iteration_median`` (wall clock) and
``cpu_seconds_per_iteration_median`` (this process's CPU time, less sensitive to other
processes on a shared machine) over all timed iterations of all repeats, each repeat's
per-iteration figures, and the per-iteration loss and cumulative reward (sum of rewards over
the batch / samples, as the seed's ``cr_per_iteration``). An iteration is timed from the
exploration schedule to the end of ``optimizer.step()``; the optimizer's construction (whose
first call imports torch's compiler stack, about 2 s) is outside it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import warnings
from copy import deepcopy
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root
import torch  # noqa: E402

from benchmarks import common  # noqa: E402  (standard library only; not jaxpg)

# The seed ran ``warnings.filterwarnings('ignore')``; only the implicit-softmax-dim
# warning fires here, so silence just that one.
warnings.filterwarnings("ignore", message="Implicit dimension choice for softmax")

SEED_GRID = [
    [-1, -1, -1, -10, -1, 10**3],
    [-100, -1, -10, -1, -10, -10],
    [-1, -10, -100, -10, -1, -1],
    [-1, -1, -100, -10, -1, -1],
    [-10, -1, -100, -100, -100, -1],
    [-1, -1, -100, -100, -100, -1],
]
SEED_START = [5, 0]


class POLICY(torch.nn.Module):
    """The seed's linear softmax policy over 5 moves, with epsilon-random exploration."""

    def __init__(self, state_size, action_size):
        super().__init__()
        self.state_size = state_size
        self.action_size = action_size
        self.linear = torch.nn.Linear(state_size, action_size)
        self.softmax = torch.nn.Softmax()

    def sample_action(self, state, randomness):
        probabilities = self.linear(torch.FloatTensor(state))
        probabilities = self.softmax(probabilities)
        action = torch.distributions.Categorical(probabilities)
        if torch.distributions.uniform.Uniform(0, 1).sample() < randomness:
            return torch.randint(0, 5, (1,))
        return action.sample()

    def logprob_action(self, state, action):
        probabilities = self.linear(state)
        probabilities = self.softmax(probabilities)
        return min(0, torch.log(probabilities[action.long()] + 0.0001))


class GRID_WORLD:
    """The seed's gridworld: list-of-lists rewards, in-place state updates, Python loops."""

    def __init__(self, pre_determined_grid, start_state):
        self.grid = pre_determined_grid
        self.start_state = start_state
        self.grid_dim = [len(pre_determined_grid), len(pre_determined_grid[0])]

    def step_agent(self, state, action):
        # [row, column]; action 0 stays, 1 row-1, 2 row+1, 3 column+1, 4 column-1.
        if action == 1:
            if state[0] != 0:
                state[0] -= 1
        elif action == 2:
            if state[0] != self.grid_dim[1] - 1:
                state[0] += 1
        elif action == 3:
            if state[1] != self.grid_dim[0] - 1:
                state[1] += 1
        elif action == 4:
            if state[1] != 0:
                state[1] -= 1
        elif action == 0:
            pass
        else:
            print("key error for movement in step_agent")
        return state

    def simulate_trajectory(self, T, samples, policy):
        current_state = deepcopy(self.start_state)
        current_reward = deepcopy(self.grid[current_state[0]][current_state[1]])
        current_action = policy(current_state)
        state_tensor = torch.zeros((len(current_state), T, samples), requires_grad=False)
        reward_tensor = torch.zeros((T, samples), requires_grad=False)
        action_tensor = torch.zeros((T, samples), requires_grad=False)
        for sample in range(samples):
            for t in range(T):
                state_tensor[:, t, sample] = torch.FloatTensor(current_state)
                reward_tensor[t, sample] = current_reward
                action_tensor[t, sample] = current_action
                current_state = self.step_agent(current_state, current_action)
                current_reward = deepcopy(self.grid[current_state[0]][current_state[1]])
                current_action = policy(current_state)
        return state_tensor, action_tensor, reward_tensor


class POLICY_GRADIENT_LOSS(torch.nn.Module):
    """The seed's maximum-entropy policy-gradient loss, entropy sign fixed (see module doc)."""

    def __init__(self, alpha, discount, sd, trajectory_length, simulations):
        super().__init__()
        self.sd = sd
        self.alpha = alpha
        self.discount = discount
        self.trajectory_length = trajectory_length
        self.simulations = simulations
        self.base_line = 0

    def Advantage_estimator(self, logliklihood_tensor, trajectories_reward_tensor):
        """Soft reward-to-go ``r_t - alpha * log pi_t + discount * A_{t+1}``, reverse loop."""
        last = self.trajectory_length - 1
        cumulative_rollout = torch.zeros([self.trajectory_length, self.simulations])
        cumulative_rollout[last, :] = (
            trajectories_reward_tensor[last, :] - self.alpha * logliklihood_tensor[last, :]
        )
        for time_index in reversed(range(0, last)):
            cumulative_rollout[time_index, :] = (
                trajectories_reward_tensor[time_index, :]
                + self.discount * cumulative_rollout[time_index + 1, :]
                - self.alpha * logliklihood_tensor[time_index, :]
            )
        return cumulative_rollout.detach()

    def forward(
        self,
        model_liklihood,
        trajectories_state_tensor,
        trajectories_action_tensor,
        trajectories_reward_tensor,
    ):
        logliklihood_tensor = torch.zeros([self.trajectory_length, self.simulations])
        for time_index in range(self.trajectory_length):
            for simulation in range(self.simulations):
                logliklihood_tensor[time_index, simulation] = model_liklihood(
                    trajectories_state_tensor[:, time_index, simulation],
                    trajectories_action_tensor[time_index, simulation],
                )
        A_hat = self.Advantage_estimator(logliklihood_tensor, trajectories_reward_tensor)
        expectation = 0
        for time_index in range(self.trajectory_length):
            expectation += (
                torch.dot(A_hat[time_index, :], logliklihood_tensor[time_index, :])
                / self.simulations
            )
        return -1 * torch.sum(expectation) / self.trajectory_length


def train_policy(iterations, grid, samples, T, discount, alpha, sd):
    """The seed's ``train_policy`` loop, timing each iteration; returns per-iteration records."""
    policy_obj = POLICY(2, 5)
    optimizer = torch.optim.Adam(policy_obj.parameters(), lr=1e-2)
    loss_func = POLICY_GRADIENT_LOSS(alpha, discount, sd, T, samples)

    def iteration(epoch):
        randomness = (10 + epoch) / (1 + epoch) ** 2

        def policy(state, randomness=randomness):
            return policy_obj.sample_action(state, randomness)

        def log_prob(state, action):
            return policy_obj.logprob_action(state, action)

        state_tensor, action_tensor, reward_tensor = grid.simulate_trajectory(T, samples, policy)
        loss = loss_func(log_prob, state_tensor, action_tensor, reward_tensor)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss, reward_tensor

    seconds, cpu_seconds, losses, cumulative_rewards = [], [], [], []
    for epoch in range(iterations):
        elapsed, (loss, reward_tensor) = common.timed(iteration, epoch)
        seconds.append(elapsed.seconds)
        cpu_seconds.append(elapsed.cpu_seconds)
        losses.append(loss.item())
        cumulative_rewards.append(float(sum(sum(reward_tensor)) / samples))
    return seconds, cpu_seconds, losses, cumulative_rewards


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--iterations",
        type=int,
        default=5,
        help="training iterations per repeat (the seed ran 500)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="independent runs, each from a fresh policy and iteration 0",
    )
    parser.add_argument("--samples", type=int, default=10, help="trajectories per iteration")
    parser.add_argument("--horizon", type=int, default=300, help="steps per trajectory (T)")
    parser.add_argument("--discount", type=float, default=0.99)
    parser.add_argument("--alpha", type=float, default=1.0, help="entropy temperature")
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
    grid = GRID_WORLD(SEED_GRID, SEED_START)
    runs = []
    for repeat in range(args.repeats):
        torch.manual_seed(args.seed + repeat)
        seconds, cpu_seconds, losses, cumulative_rewards = train_policy(
            args.iterations, grid, args.samples, args.horizon, args.discount, args.alpha, sd=1
        )
        runs.append(
            {
                "seed": args.seed + repeat,
                "seconds_per_iteration": seconds,
                "cpu_seconds_per_iteration": cpu_seconds,
                "loss": losses,
                "cumulative_reward": cumulative_rewards,
            }
        )

    all_seconds = [s for run in runs for s in run["seconds_per_iteration"]]
    all_cpu_seconds = [s for run in runs for s in run["cpu_seconds_per_iteration"]]
    print(
        json.dumps(
            {
                "benchmark": "torch_seed001_maxent_pg_gridworld",
                "seconds_per_iteration_median": statistics.median(all_seconds),
                "cpu_seconds_per_iteration_median": statistics.median(all_cpu_seconds),
                "seconds_per_iteration_repeat_medians": [
                    statistics.median(run["seconds_per_iteration"]) for run in runs
                ],
                "env_steps_per_iteration": args.samples * args.horizon,
                "iterations": args.iterations,
                "repeats": args.repeats,
                "samples": args.samples,
                "horizon": args.horizon,
                "discount": args.discount,
                "alpha": args.alpha,
                "validate_args": not args.no_validate_args,
                "runs": runs,
                "load_average_1min": [load_before, os.getloadavg()[0]],
                "torch_version": torch.__version__,
                "torch_num_threads": torch.get_num_threads(),
                "python_version": platform.python_version(),
            }
        )
    )


if __name__ == "__main__":
    main()

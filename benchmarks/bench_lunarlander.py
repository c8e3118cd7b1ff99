"""TRPO on gymnasium's LunarLander-v3 through the host bridge (seed 002's environment).

The issue's target: a mean return of at least 150 within 1M environment steps, with the
wall-clock. Reference: sb3-contrib's RL-Zoo TRPO reported 133 +- 112 at 200k steps on
LunarLander-v2 (v2 no longer exists; v3 is current).

jaxpg side: ``jaxpg.make_env("gymnasium:LunarLander-v3")`` and `jaxpg.host_train`: a
gymnasium ``SyncVectorEnv`` of ``--num-envs`` copies stepped on the host, one jitted policy
call per step for the batch, the same jitted TRPO update as the JAX path. Default settings
follow RL-Zoo's tuned sb3-contrib TRPO for LunarLander-v3 (1,024 steps per update, gamma 0.99,
GAE lambda 0.98, CG damping 0.01, max KL 0.01, critic Adam 1e-3 for 15 epochs of minibatches
of 128, 64x64 tanh networks, no normalisation), with 8 environments x 128 steps instead of
2 x 512 (fewer policy calls per environment step). Tried and worse on seed 0: 16 x 256 steps
with max KL 0.02 and 10 critic epochs (142 at 1M steps, never above 150), and 16 x 64
(shorter segments: -62 at 1M).

Measured, per seed, in one process:

* training curve: mean return of the episodes finished in each iteration (``episode_return``;
  NaN before the first episode has finished, skipped where it is averaged);
* evaluation every ``--eval-every`` env steps: ``--eval-episodes`` complete episodes with the
  stochastic policy (the headline, as in training) and the greedy one, on fresh seeds
  (`jaxpg.evaluate` with the trained policy, ``trainer.algorithm.policy``); the first
  evaluation with a stochastic mean >= 150 gives "steps to 150";
* wall-clock of training (`benchmarks.common.timed` around the trainer's ``init`` and every
  chunk of iterations; the evaluations are timed apart and not counted), split into host
  environment stepping, jitted policy calls and jitted updates (`HostTrainer.timings`);
  env-steps/s = training steps / training wall-clock. Compilation (the first update) is
  inside the update time and reported apart.

JAX's asynchronous CPU dispatch is turned off (``jax_cpu_enable_async_dispatch=False``, set
before the first computation; ``--async-dispatch`` keeps it): the per-step policy call then runs
on the calling thread instead of waking XLA's worker thread after every host step, which cut
the policy time by 10-27% in two A/B runs on this (shared) machine. Every run records the load
average.

Run from the repository root::

    python -m benchmarks.bench_lunarlander             # 1M steps, seeds 0 1 2 (~15-20 min)
    python -m benchmarks.bench_lunarlander --seeds 0   # one seed
    python -m benchmarks.bench_lunarlander --quick     # 40k steps, prints only
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

import jax
import numpy as np

import jaxpg
from benchmarks import common
from jaxpg.host_train import make_host_trainer

ENV_ID = "gymnasium:LunarLander-v3"
TARGET_RETURN = 150.0
TARGET_STEPS = 1_000_000


def make_config(args: argparse.Namespace) -> jaxpg.TRPOConfig:
    """The TRPO config of the benchmark."""
    return jaxpg.TRPOConfig(
        total_timesteps=args.total_timesteps,
        num_envs=args.num_envs,
        num_steps=args.num_steps,
        hidden_sizes=(64, 64),
        activation="tanh",
        gamma=0.99,
        gae_lambda=args.gae_lambda,
        max_kl=args.max_kl,
        damping=args.damping,
        value_learning_rate=args.value_learning_rate,
        value_epochs=args.value_epochs,
        value_minibatches=args.value_minibatches,
    )


def run_seed(args: argparse.Namespace, seed: int) -> dict[str, Any]:
    """Trains one seed with periodic evaluations; returns the record of the run."""
    env, env_params = jaxpg.make_env(ENV_ID)
    config = make_config(args)
    iterations_per_eval = max(1, args.eval_every // config.batch_size)
    evaluations: list[dict[str, Any]] = []
    eval_seconds = train_seconds = 0.0
    first_update_s = None
    curve: list[float] = []

    with make_host_trainer(config, env, env_params) as trainer:

        def returns(params: Any, key: jax.Array, episodes: int, greedy: bool) -> np.ndarray:
            return np.asarray(
                jaxpg.evaluate(
                    config,
                    env,
                    env_params,
                    params,
                    key,
                    episodes,
                    greedy,
                    policy=trainer.algorithm.policy,
                )
            )

        def evaluate(params: Any, env_steps: int, index: int) -> dict[str, float]:
            key = jax.random.fold_in(jax.random.key(10_000 + seed), index)
            stochastic = returns(params, key, args.eval_episodes, greedy=False)
            greedy = returns(params, key, args.eval_episodes, greedy=True)
            return {
                "env_steps": env_steps,
                "stochastic_mean": float(stochastic.mean()),
                "stochastic_std": float(stochastic.std()),
                "greedy_mean": float(greedy.mean()),
                "greedy_std": float(greedy.std()),
            }

        elapsed, state = common.timed(trainer.init, jax.random.key(seed))
        train_seconds += elapsed.seconds
        done_iterations = 0
        while done_iterations < config.num_iterations:
            chunk = min(iterations_per_eval, config.num_iterations - done_iterations)
            elapsed, (state, metrics) = common.timed(trainer.run, state, chunk)
            train_seconds += elapsed.seconds
            if first_update_s is None:
                first_update_s = trainer.timings["update"]
            done_iterations += chunk
            curve.extend(np.asarray(metrics["episode_return"]).tolist())
            print(
                f"  seed {seed} iteration {done_iterations}/{config.num_iterations}: training "
                f"return {curve[-1]:7.1f}, {train_seconds:6.1f} s",
                flush=True,
            )
            elapsed, record = common.timed(
                evaluate, state.agent.params, state.env_steps.value(), len(evaluations)
            )
            eval_seconds += elapsed.seconds
            evaluations.append(record)
            print(
                f"  seed {seed} eval at {record['env_steps']:>8d} steps: stochastic "
                f"{record['stochastic_mean']:7.1f} +- {record['stochastic_std']:5.1f}, greedy "
                f"{record['greedy_mean']:7.1f} +- {record['greedy_std']:5.1f}",
                flush=True,
            )
        timings = dict(trainer.timings)
        final_key = jax.random.key(20_000 + seed)
        final = {
            mode: returns(
                state.agent.params, final_key, args.final_eval_episodes, greedy=mode == "greedy"
            )
            for mode in ("stochastic", "greedy")
        }
    env_steps = state.env_steps.value()
    reached = [e["env_steps"] for e in evaluations if e["stochastic_mean"] >= TARGET_RETURN]
    finished = [value for value in curve[-10:] if not np.isnan(value)]
    return {
        "seed": seed,
        "env_steps": env_steps,
        "train_seconds": train_seconds,
        "env_steps_per_s": env_steps / train_seconds,
        "timings": timings,
        "first_chunk_update_s": first_update_s,
        "eval_seconds": eval_seconds,
        "final": {
            f"{mode}_{stat}": float(getattr(np, stat)(values))
            for mode, values in final.items()
            for stat in ("mean", "std")
        },
        "final_episodes": args.final_eval_episodes,
        "training_return_last_10": float(np.mean(finished)) if finished else float("nan"),
        "best": max(evaluations, key=lambda e: e["stochastic_mean"]),
        "steps_to_target": reached[0] if reached else None,
        "evaluations": evaluations,
        "training_curve": curve,
        "load_average_end": common.load_average(),
    }


def report(
    args: argparse.Namespace,
    machine: dict[str, Any],
    runs: list[dict[str, Any]],
    commands: list[str] | None = None,
) -> str:
    """The Markdown section (``commands``: the training runs', when assembled from records)."""
    config = make_config(args)
    preamble = common.section_preamble(machine)
    if commands is not None:
        listed = ", ".join(f"`{command}`" for command in commands)
        preamble = (
            f"Commands: {listed} (one process per seed, one after the other), then "
            f"`{common.command_line()}`\n\n"
            f"Date: {common.today()}. {common.machine_markdown(machine)}\n"
        )
    lines = [
        "## TRPO on LunarLander-v3 (gymnasium bridge, host rollouts)\n",
        preamble,
        f"Target: mean return >= {TARGET_RETURN:.0f} within {TARGET_STEPS:,} env steps "
        "(sb3-contrib's RL-Zoo TRPO: 133 +- 112 at 200k steps on LunarLander-v2).\n",
        f"Settings: `TRPOConfig(num_envs={config.num_envs}, num_steps={config.num_steps}, "
        f"hidden_sizes=(64, 64), gamma=0.99, gae_lambda={args.gae_lambda}, "
        f"max_kl={args.max_kl}, damping={args.damping}, value_epochs={args.value_epochs}, "
        f"value_minibatches={args.value_minibatches}, "
        f"value_learning_rate={args.value_learning_rate})`, {config.num_iterations} iterations "
        f"of {config.batch_size} steps; no observation or reward normalisation. Evaluation "
        f"every {args.eval_every:,} steps: {args.eval_episodes} complete episodes on fresh "
        "seeds, stochastic policy (headline) and greedy; after training "
        f"{args.final_eval_episodes} more episodes of each (the final columns). The training "
        "return is the mean of `episode_return` over the last 10 iterations. Wall-clock "
        "excludes evaluations; "
        "the update column includes the first update's compilation. JAX CPU async dispatch "
        f"{'on' if args.async_dispatch else 'off'}.\n",
    ]
    rows = []
    for run in runs:
        final, timings = run["final"], run["timings"]
        reached = run["steps_to_target"]
        rows.append(
            [
                run["seed"],
                f"{run['env_steps']:,}",
                f"{final['stochastic_mean']:.1f} +- {final['stochastic_std']:.1f}",
                f"{final['greedy_mean']:.1f} +- {final['greedy_std']:.1f}",
                f"{run['training_return_last_10']:.1f}",
                f"{run['best']['stochastic_mean']:.1f} at {run['best']['env_steps']:,}",
                f"{reached:,}" if reached is not None else "not reached",
                f"{run['train_seconds']:.0f}",
                f"{run['env_steps_per_s']:,.0f}",
                f"{timings['env']:.0f} / {timings['policy']:.0f} / {timings['update']:.0f}",
                run["load_average_end"].split(" / ")[0],
                f"{run['first_chunk_update_s']:.1f}",
            ]
        )
    lines.append(
        common.markdown_table(
            [
                "seed",
                "env steps",
                "final eval (stochastic)",
                "final eval (greedy)",
                "training return",
                "best periodic eval",
                f"steps to eval >= {TARGET_RETURN:.0f}",
                "train s",
                "env-steps/s",
                "s: env / policy / update",
                "load at end",
                "s: first chunk's updates (compile)",
            ],
            rows,
        )
    )
    finals = [run["final"]["stochastic_mean"] for run in runs]
    met = sum(value >= TARGET_RETURN for value in finals)
    lines.append(
        f"Final stochastic evaluation >= {TARGET_RETURN:.0f}: {met} of {len(runs)} seeds "
        f"(median {statistics.median(finals):.1f}). Time split: host gymnasium stepping "
        "(Box2D, numpy bookkeeping) / jitted per-step policy calls / jitted TRPO updates.\n"
    )
    curves = []
    for run in runs:
        points = ", ".join(
            f"{e['env_steps'] // 1000}k: {e['stochastic_mean']:.0f}" for e in run["evaluations"]
        )
        curves.append(f"- seed {run['seed']}: {points}")
    lines.append("Evaluation curve (stochastic mean return):\n\n" + "\n".join(curves) + "\n")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--total-timesteps", type=int, default=TARGET_STEPS)
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--num-steps", type=int, default=128)
    parser.add_argument("--max-kl", type=float, default=0.01)
    parser.add_argument("--damping", type=float, default=0.01)
    parser.add_argument("--gae-lambda", type=float, default=0.98)
    parser.add_argument("--value-epochs", type=int, default=15)
    parser.add_argument("--value-minibatches", type=int, default=8)
    parser.add_argument("--value-learning-rate", type=float, default=1e-3)
    parser.add_argument("--eval-every", type=int, default=100_000)
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument("--final-eval-episodes", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="40k steps, no RESULTS.md")
    parser.add_argument("--no-write", action="store_true", help="do not write RESULTS.md")
    parser.add_argument("--json", help="write the raw record here")
    parser.add_argument(
        "--from-json",
        nargs="+",
        help="build the section from --json records of separate runs (one seed each) instead "
        "of training",
    )
    parser.add_argument(
        "--async-dispatch",
        action="store_true",
        help="keep JAX's asynchronous CPU dispatch (default: off, see the module docstring)",
    )
    args = parser.parse_args()
    if not args.async_dispatch:
        # Before any JAX computation: the flag is read when the CPU client is created.
        jax.config.update("jax_cpu_enable_async_dispatch", False)
    if args.quick:
        args.total_timesteps, args.eval_every, args.eval_episodes = 40_960, 20_480, 5
        args.final_eval_episodes = 5
        args.no_write = True
    if args.from_json:
        # Assemble the section from runs recorded separately (same settings).
        records = [json.loads(Path(path).read_text()) for path in args.from_json]
        machine = records[0]["machine"]
        args = argparse.Namespace(**{**records[0]["args"], "no_write": args.no_write})
        runs = [run for record in records for run in record["runs"]]
        commands = [record.get("command", "?") for record in records]
        body = report(args, machine, runs, commands=commands)
    else:
        machine = common.machine_description()
        runs = [run_seed(args, seed) for seed in args.seeds]
        body = report(args, machine, runs)
    print(body)
    record = {"machine": machine, "args": vars(args), "runs": runs}
    common.write_json(args.json, {**record, "command": common.command_line()})
    if not args.no_write:
        common.write_section("lunarlander", body)


if __name__ == "__main__":
    main()

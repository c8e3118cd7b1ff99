"""The ``jaxpg`` argument parser."""

from __future__ import annotations

import argparse
from typing import Any

from jaxpg.cli.options import (
    ALGORITHM_NAMES,
    COMPILE_MODES,
    FAST_COMPILE_MAX_STEPS,
    TARGET_CHUNKS,
    TARGET_EVALUATIONS,
)
from jaxpg.cli.sweep import SWEEP_ALIASES


def _add_train_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train an algorithm on an environment",
        description="Train ALGO on an environment; writes config.json, metrics.csv, "
        "learning_curve.png and checkpoint.msgpack to the run directory.",
        epilog="examples:\n  jaxpg train trpo --env CartPole-v1\n"
        "  jaxpg train npg --env CartPole-v1 --seeds 4 --set hidden_sizes=32,32\n"
        "  jaxpg train trpo --env CartPole-v1 --set sampling=vine\n"
        "  jaxpg train maxent --env GridWorld-v0 --env-set observation=one_hot\n"
        "  jaxpg train ppo --env gymnasium:LunarLander-v3 --total-timesteps 1000000\n"
        "  jaxpg train ppo --env CartPole-v1 --sweep lr=1e-3,3e-3,1e-2 --seeds 4\n"
        "  jaxpg train a2c --env CartPole-v1 --sweep lr=1e-3,1e-2 --sweep gamma=0.95,0.99\n"
        "  jaxpg train --resume runs/trpo-CartPole-v1-... --total-timesteps 200000\n\n"
        "Compiled programs are kept in a persistent cache (default ~/.cache/jaxpg/jax, printed\n"
        "at the start), so a repeated command skips most of its compile time;\n"
        "JAXPG_COMPILE_CACHE=DIR moves it, JAXPG_COMPILE_CACHE=off turns it off.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "algorithm",
        nargs="?",
        metavar="ALGO",
        help=f"one of {', '.join(ALGORITHM_NAMES)} (omit with --resume)",
    )
    parser.add_argument(
        "--env",
        help="environment id, e.g. CartPole-v1, GridWorld-v0, a "
        "gymnax id, or gymnasium:ID (e.g. gymnasium:LunarLander-v3; rollouts "
        "on the host, updates jitted)",
    )
    parser.add_argument(
        "--env-set",
        action="append",
        metavar="NAME=VALUE",
        help="an environment option, e.g. max_steps=50 (repeatable)",
    )
    parser.add_argument(
        "--total-timesteps",
        type=int,
        metavar="N",
        help="environment steps per seed; with --resume the new total",
    )
    parser.add_argument("--num-envs", type=int, metavar="N", help="parallel environments")
    parser.add_argument("--seed", type=int, metavar="S", help="first seed (0)")
    parser.add_argument(
        "--seeds",
        type=int,
        metavar="K",
        help="train seeds S..S+K-1 together, vmapped (1); on a gymnasium: env "
        "they take turns on the host, chunk by chunk",
    )
    parser.add_argument(
        "--set",
        action="append",
        metavar="FIELD=VALUE",
        dest="sets",
        help="a config field, e.g. max_kl=0.02, hidden_sizes=64,64, sampling=vine (repeatable)",
    )
    parser.add_argument(
        "--out", metavar="DIR", help="run directory (default runs/<algo>-<env>-<timestamp>)"
    )
    parser.add_argument(
        "--sweep",
        action="append",
        metavar="FIELD=V1,V2,...",
        help="train a grid of values of a traced (float) config field, e.g. lr=1e-3,3e-3,1e-2; "
        "repeat for the cartesian product; grid points x seeds run vmapped in one compiled "
        "program, and sweep.csv, sweep.md and sweep.png report the mean and std over seeds "
        "per grid point. Aliases: "
        + ", ".join(f"{alias}={'/'.join(fields)}" for alias, fields in SWEEP_ALIASES.items()),
    )
    parser.add_argument("--resume", metavar="DIR", help="continue the run saved in DIR")
    parser.add_argument(
        "--chunk-size",
        type=int,
        metavar="N",
        help="iterations per compiled call and checkpoint (default: about "
        f"1/{TARGET_CHUNKS} of the run)",
    )
    parser.add_argument(
        "--eval-every",
        type=int,
        metavar="K",
        help="evaluate the policy during training after every K-th iteration and the last "
        "(eval_episodes episodes with sampled and as many with greedy actions, on separate "
        f"environments; default: about {TARGET_EVALUATIONS} times per run; 0: never)",
    )
    parser.add_argument(
        "--eval-episodes",
        type=int,
        default=100,
        metavar="N",
        help="episodes per seed for the final evaluation after training; 0 skips it (100)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--compile",
        choices=COMPILE_MODES,
        help="how XLA compiles a JAX environment's programs: fast (jaxpg.FAST_COMPILE_OPTIONS: "
        "about half the compile time, programs 1.1-1.4x slower), optimized "
        "(jaxpg.COMPILER_OPTIONS), or auto: fast for runs of up to "
        f"{FAST_COMPILE_MAX_STEPS:,} environment steps, all seeds and grid points together "
        "(default: auto; with --resume, the run's own)",
    )
    parser.add_argument(
        "--logger",
        default="csv",
        metavar="NAMES",
        help="where the per-iteration metrics go, against env steps, comma-separated: csv "
        "(metrics.csv in the run directory, always written), tensorboard (event files in "
        "DIR/tensorboard/, a run per seed, or per grid point and seed of a sweep; needs "
        "tensorboardX), wandb (a Weights & Biases run with the config, files in DIR/wandb/; "
        "project $WANDB_PROJECT or jaxpg, WANDB_MODE=offline to log without a network; "
        "needs wandb); e.g. csv,tensorboard (default: csv)",
    )


def _add_eval_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="evaluate a saved run",
        description="Load DIR's checkpoint and print the mean and std of episode returns; for "
        "GridWorld also the action in every cell and one trajectory.",
    )
    parser.add_argument("dir", metavar="DIR", help="a run directory (or its checkpoint file)")
    parser.add_argument(
        "--episodes", type=int, default=100, metavar="N", help="episodes per trained seed (100)"
    )
    parser.add_argument(
        "--greedy", action="store_true", help="take the most probable action instead of sampling"
    )
    parser.add_argument(
        "--seed",
        type=int,
        metavar="S",
        help="evaluation seeds S..S+K-1, one per trained seed (default: the "
        "run's seeds, which repeats the evaluation printed after training)",
    )
    parser.add_argument(
        "--which-seed",
        type=int,
        metavar="S",
        help="the trained seed shown in the action map, trajectory and GIF "
        "(default: the run's first)",
    )
    parser.add_argument("--render", metavar="FILE.gif", help="write a GIF of one episode")
    parser.add_argument(
        "--fps", type=float, metavar="F", help="GIF frames per second (CartPole 50, GridWorld 8)"
    )


def _add_list_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "list",
        help="list the algorithms, environments and presets",
        description="List the algorithms (with their config classes), the environment ids and "
        "families (with the optional extras they need) and the per-environment presets.",
    )
    parser.add_argument(
        "section",
        nargs="?",
        choices=("algorithms", "envs", "presets"),
        help="only this section (default: all)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``jaxpg`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="jaxpg",
        description="Vectorized policy-gradient reinforcement learning in JAX.",
        epilog="run `jaxpg train --help` or `jaxpg eval --help` for a command's options, "
        "`jaxpg list` for the algorithms, environments and presets",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_train_parser(subparsers)
    _add_eval_parser(subparsers)
    _add_list_parser(subparsers)
    return parser

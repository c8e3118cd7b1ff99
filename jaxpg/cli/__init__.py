"""The ``jaxpg`` command line: train an algorithm on an environment, evaluate a saved run.

    jaxpg train trpo --env CartPole-v1
    jaxpg train trpo --env CartPole-v1 --seeds 4 --set sampling=vine --set hidden_sizes=32,32
    jaxpg train maxent --env GridWorld-v0 --set num_steps=300 --env-set observation=one_hot
    jaxpg train trpo --env gymnasium:LunarLander-v3 --total-timesteps 1000000
    jaxpg train ppo --env CartPole-v1 --sweep lr=1e-3,3e-3,1e-2 --sweep gamma=0.95,0.99 --seeds 4
    jaxpg train --resume runs/trpo-CartPole-v1-20250101-120000 --total-timesteps 200000
    jaxpg eval runs/trpo-CartPole-v1-20250101-120000 --greedy --render cartpole.gif
    jaxpg list

A thin layer over the library: ``make_env``, ``make_trainer`` and ``evaluate``. Training runs in
chunks of ``--chunk-size`` iterations, each one call of a single compiled program,
``jit(vmap(run_chunk))`` over seeds (`make_chunk_runner`). The program takes the number of
iterations to run as a traced argument and skips the rest of its fixed-length scan with
`lax.cond`, so the last, partial chunk reuses it. A new run compiles three programs (the initial
states, the chunk, and the evaluation: `jaxpg.cli.programs.evaluation_lowering`), a resumed run
two (no initial states), in parallel threads, and never one per chunk; the number of seeds does
not change that (they are vmapped). Within one process, programs are reused across `main` calls
when their config and environment are the same. Across processes, JAX's persistent compilation
cache keeps the compiled programs (`jaxpg.cli.programs.enable_compilation_cache`: by default in
``~/.cache/jaxpg/jax``, printed at the start; ``JAXPG_COMPILE_CACHE=DIR`` moves it, ``=off``
turns it off), and the traced programs are stored beside it (`jaxpg.cli.stored`, by
`jax.export`), so a repeated command neither traces nor compiles. Programs compile with
`jaxpg.FAST_COMPILE_OPTIONS` for runs of up to 1M environment steps and with
`jaxpg.COMPILER_OPTIONS` beyond (``--compile``; the choice is kept with the run).

Ctrl-C is handled within a fraction of a second at any moment: compilations run in daemon
threads and every wait for a program polls, so nothing blocks in XLA. A new run interrupted
before its first checkpoint (while compiling) removes what it wrote; ``--resume`` on such a
directory says so.

After every chunk the run's checkpoint is saved atomically, so Ctrl-C leaves the last completed
chunk on disk (and the metrics, curve and config are written before exiting); ``--resume DIR``
continues it (ALGO, ``--env``, ``--set`` and the other options that fix a run may be repeated,
with the run's own values only). ``--total-timesteps`` on a resume is the new total for the
whole run (default: the total the run was started with). All randomness comes from the PRNG
key carried in the checkpointed state, so N iterations, then a resume to 2N, give bit for bit
the metrics and parameters of 2N iterations in one go (on the same machine), whatever the chunk
sizes.

Every key of seed S comes from `run_keys`: ``train, evaluate, render = split(key(S), 3)``.
Training starts from ``trainer.init(train)``: a run with seeds S..S+K-1 equals
``jax.vmap(make_train(config, env, env_params))`` over those train keys: the same parameters,
returns and evaluations during training, bit for bit; diagnostics such as a KL estimate may
differ in the last bit (one seed alone unvmapped sees the same episodes; its floats may differ
in the last bits). The evaluations during training run in the evaluation program between
chunks (a chunk ends where the schedule evaluates), on the keys and with the metrics of the
trainer's own schedule. The final evaluation and ``jaxpg eval`` play their episodes in batches
of ``2 * eval_episodes`` (the config's; the last batch cut to the count asked for) through the
same program, batch ``b`` on ``fold_in(evaluate, b)``; the episode ``jaxpg eval`` shows and
renders uses ``render``; none of them is a key training also uses. An algorithm whose schedule
depends on the run's length (PPO's ``anneal_lr``) follows the total in force when each
iteration is trained.

Gymnasium environments (``--env gymnasium:LunarLander-v3``) have no JAX ``step``, so their runs
go through `jaxpg.host_train`: rollouts on the host from a gymnasium vector environment, the
same jitted update as the JAX path (compiled on first use, during training). ``--seeds K``
then trains the seeds in turn, chunk by chunk, one vector environment each, sharing the
compiled functions. Seed S of such a run equals `train_host` with ``run_keys(S).train`` in one
go, bit for bit, whatever the chunk sizes; a resumed run restarts its episodes (fresh resets
seeded from the checkpointed key), so it is reproducible but not the run in one go. Files,
progress bar, summary and ``jaxpg eval`` are the same (evaluation with `jaxpg.evaluate`, which
plays gymnasium episodes on the host).

``--sweep FIELD=V1,V2,...`` (repeatable: the cartesian product) trains a grid of values of
traced config fields (`sweepable_fields`; ``lr`` and the other `SWEEP_ALIASES` are short
names) in one compiled program: ``jit(vmap(sweep_chunk))`` over grid points x seeds flattened
to one leading axis (`make_sweep_chunk_runner`), each member training with
``dataclasses.replace(config, **its values)`` from the key of its seed (the grid points of a
seed start from the same parameters and first rollout, unless the swept field changes them,
like ``init_log_std``). A static field is refused before anything is traced. The
run directory then holds ``sweep.csv`` and ``sweep.md`` (per grid point the final return,
and the evaluation return, as mean ± std over seeds, and the best point), ``sweep.png``
(return against env steps per grid point, mean and ± std band over seeds) and a
``metrics.csv`` with ``grid_point`` and the swept fields as columns; ``--resume`` and
``jaxpg eval`` work on it as on any run.

Run directory (default ``runs/<algo>-<env>-<timestamp>``): ``config.json`` (algorithm, env id and
options, every config field, seeds, jaxpg version, summary), ``metrics.csv`` (one row per
iteration and seed), ``learning_curve.png`` and ``checkpoint.msgpack`` (`jaxpg.checkpoint`,
with the config and, as metadata, the algorithm, env id and options, seeds, chunk size and
sweep grid: all ``--resume`` and ``jaxpg eval`` need to rebuild the run). A seed's
``episode_return`` is ``nan`` until its first episode has finished; the progress bar and the
summary then say ``n/a`` and leave it out of means.

The package: `options` (``--set`` values, the config classes and the validated config,
`run_keys`, `CLIError`), `sweep` (the ``--sweep`` grid and its table), `run` (the `Run`, the
`Runner` interface it trains through, its file names), `runners` (`JaxRunner` and
`make_runner`), `programs` (the compiled programs and their cache), `host` (`HostRunner`:
gymnasium seeds in turn), `runs` (a new run, or one loaded from its checkpoint), `outputs`
(files and summary), `train` and `evaluate` (the two commands), `listing` (``jaxpg list``) and
`parser`. Every evaluation
and rendering uses the trained network, ``runner.algorithm.policy``. Heavy imports (jax)
happen inside the functions that need them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from jaxpg.cli.evaluate import eval_command
from jaxpg.cli.options import (
    ALGORITHM_NAMES,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    CLIError,
    algorithm_registry,
    build_config,
    config_classes,
    parse_assignments,
    parse_value,
    run_keys,
)
from jaxpg.cli.outputs import write_metrics_csv
from jaxpg.cli.parser import build_parser
from jaxpg.cli.programs import make_chunk_runner, make_sweep_chunk_runner
from jaxpg.cli.sweep import (
    SWEEP_ALIASES,
    Sweep,
    format_sweep_table,
    parse_sweeps,
    sweep_results,
    sweepable_fields,
)
from jaxpg.cli.train import train_command

__all__ = [
    "ALGORITHM_NAMES",
    "EXIT_INTERRUPTED",
    "EXIT_USAGE",
    "SWEEP_ALIASES",
    "CLIError",
    "Sweep",
    "algorithm_registry",
    "build_config",
    "build_parser",
    "config_classes",
    "eval_command",
    "format_sweep_table",
    "main",
    "make_chunk_runner",
    "make_sweep_chunk_runner",
    "parse_assignments",
    "parse_sweeps",
    "parse_value",
    "run_keys",
    "sweep_results",
    "sweepable_fields",
    "train_command",
    "write_metrics_csv",
]


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit status (0; 2 for usage errors; 130 on Ctrl-C).

    ``argv`` None (the ``jaxpg`` command, ``python -m jaxpg``): the arguments of the process,
    which is the command's own. Then plotting modules that gymnax imports are deferred to
    their first use (`jaxpg.cli.deferred`), and once the command is done, its files written
    and closed, the process ends at once (`os._exit`), without the interpreter's teardown of
    JAX's runtime, about 0.5 s on 2 cores (not after W&B logging, whose service process is
    shut down at exit).
    """
    args = build_parser().parse_args(argv)
    if argv is None:
        from jaxpg.cli.deferred import defer_imports

        defer_imports()
    status = _command(args)
    if argv is None and "wandb" not in sys.modules:
        import os

        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    return status


def _command(args: argparse.Namespace) -> int:
    from jaxpg.cli.programs import exit_if_abandoned, interrupt_handled, interrupt_handler

    with interrupt_handler():
        try:
            if args.command == "train":
                return train_command(args)
            if args.command == "list":
                from jaxpg.cli.listing import list_command

                return list_command(args)
            return eval_command(args)
        except CLIError as error:
            print(f"jaxpg: error: {error}", file=sys.stderr)
            return EXIT_USAGE
        except KeyboardInterrupt:  # outside the training loop, which handles its own
            interrupt_handled()
            print("jaxpg: interrupted", file=sys.stderr)
            exit_if_abandoned(EXIT_INTERRUPTED)
            return EXIT_INTERRUPTED

"""``jaxpg train``: the chunked training loop, with a progress bar, a checkpoint after every
chunk, Ctrl-C handling and the final evaluation."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import time
from typing import Any

from jaxpg.cli.host import evaluate_on_host
from jaxpg.cli.options import EXIT_INTERRUPTED, check_count
from jaxpg.cli.outputs import (
    make_summary,
    print_summary,
    progress_postfix,
    save_checkpoint,
    write_outputs,
)
from jaxpg.cli.programs import compile_programs
from jaxpg.cli.runs import setup_new_run, setup_resume


def train_command(args: argparse.Namespace) -> int:
    """``jaxpg train``: a new run or ``--resume``; see `jaxpg.cli` for what it does and writes."""
    started = time.perf_counter()
    check_count("--eval-episodes", args.eval_episodes, 0)
    run = setup_resume(args) if args.resume else setup_new_run(args)

    import jax
    import numpy as np
    from tqdm import tqdm

    os.makedirs(run.out_dir, exist_ok=True)
    target = run.config.num_iterations
    grid = ""
    if run.sweep is not None:
        grid = (
            f", {len(run.sweep.points)} grid points of {', '.join(run.sweep.fields)} "
            "(vmapped with the seeds)"
        )
    print(
        f"{'resuming' if run.state is not None else 'training'} {run.algorithm} on "
        f"{run.env_id}: iterations {run.iterations_done + 1}..{target} of "
        f"{run.config.batch_size} env steps, seeds {run.seeds}{grid}, into {run.out_dir}",
        file=sys.stderr,
    )
    write_outputs(run, {"status": "running"}, metrics=False)
    compile_start = time.perf_counter()
    programs, compiled = compile_programs(run, args.eval_episodes)
    compile_seconds = time.perf_counter() - compile_start
    seeds = np.asarray(run.member_seeds, np.int32)
    inputs = run.program_inputs()
    if run.state is None:
        if run.on_host:
            run.state = run.trainer.init(run.seeds)
        else:
            run.state = programs["init"](seeds, *inputs)
        save_checkpoint(run, run.state, run.history)

    start_steps = int(run.history["env_steps"][0, -1]) if run.history else 0
    train_start = time.perf_counter()
    interrupted = False
    # On the host the seeds take turns, so the bar counts iterations of every seed.
    per_iteration = len(run.seeds) if run.on_host else 1
    bar = tqdm(
        total=target * per_iteration,
        initial=run.iterations_done * per_iteration,
        unit="it",
        file=sys.stderr,
        desc=f"{run.algorithm} {run.env_id}",
        disable=args.no_progress,
        dynamic_ncols=True,
    )

    def host_progress(index: int, iteration: int, metrics: dict[str, Any]) -> None:
        bar.update(1)
        postfix = {"return": f"{float(metrics['episode_return']):.4g}"}
        if len(run.seeds) > 1:
            postfix["seed"] = run.seeds[index]
        bar.set_postfix(postfix)

    try:
        while run.iterations_done < target:
            count = min(run.chunk_size, target - run.iterations_done)
            if run.on_host:
                state, metrics = run.trainer.run_chunk(run.state, count, host_progress)
            else:
                state, metrics = programs["train chunk"](run.state, *inputs, np.int32(count))
                metrics = {
                    name: np.asarray(value)[:, :count]
                    for name, value in jax.device_get(metrics).items()
                }
            history = _append(run.history, metrics)
            # The checkpoint and the run's record change together: after Ctrl-C the metrics
            # and curve written below describe exactly the checkpoint on disk.
            with _deferred_interrupt():
                save_checkpoint(run, state, history)
                run.state, run.history = state, history
                run.iterations_done += count
            if not run.on_host:
                bar.update(count)
                bar.set_postfix(progress_postfix(run, metrics["episode_return"][:, -1]))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
        if run.on_host:
            run.trainer.close()
    train_seconds = time.perf_counter() - train_start

    returns = None
    eval_seconds = 0.0
    if args.eval_episodes and not interrupted:
        eval_start = time.perf_counter()
        policy_params = run.state.agent.params["policy"]
        if run.on_host:
            returns = evaluate_on_host(
                run.config,
                run.env,
                run.env_params,
                policy_params,
                run.seeds,
                args.eval_episodes,
                greedy=False,
            )
        else:
            returns = np.asarray(programs["eval"](policy_params, seeds))
        eval_seconds = time.perf_counter() - eval_start
    summary = make_summary(
        run,
        returns,
        compiled,
        interrupted,
        {
            "wall_clock_s": time.perf_counter() - started,
            "compile_s": compile_seconds,
            "train_s": train_seconds,
            "eval_s": eval_seconds,
        },
    )
    if run.history and train_seconds > 0:
        steps_now = (summary["env_steps_per_seed"] - start_steps) * len(seeds)
        summary["env_steps_per_second"] = round(steps_now / train_seconds)
    if run.on_host:
        summary["host_seconds"] = {
            name: round(value, 3) for name, value in run.trainer.timings.items()
        }
    write_outputs(run, summary)
    print_summary(run, summary)
    if interrupted:
        print(
            f"interrupted: {run.out_dir} holds the first {run.iterations_done} iterations; "
            f"continue with `jaxpg train --resume {run.out_dir}`",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    return 0


@contextlib.contextmanager
def _deferred_interrupt() -> Any:
    """Holds Ctrl-C until the block ends, so that a checkpoint save and the bookkeeping that
    follows it happen together; then raises the KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


def _append(history: dict[str, Any], metrics: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    if not history:
        return dict(metrics)
    return {name: np.concatenate([history[name], metrics[name]], axis=1) for name in metrics}

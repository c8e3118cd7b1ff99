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

from jaxpg.cli.options import EXIT_INTERRUPTED, check_count
from jaxpg.cli.outputs import (
    make_summary,
    print_summary,
    progress_postfix,
    save_checkpoint,
    write_outputs,
)
from jaxpg.cli.run import Run
from jaxpg.cli.runs import setup_new_run, setup_resume


def train_command(args: argparse.Namespace) -> int:
    """``jaxpg train``: a new run or ``--resume``; see `jaxpg.cli` for what it does and writes."""
    started = time.perf_counter()
    check_count("--eval-episodes", args.eval_episodes, 0)
    run = setup_resume(args) if args.resume else setup_new_run(args)
    try:
        return _train(run, args, started)
    finally:
        run.runner.close()


def _train(run: Run, args: argparse.Namespace, started: float) -> int:
    """The chunked loop, the final evaluation and the run's files, through `run.runner`."""
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
    compiled = run.runner.compile(run.state, args.eval_episodes)
    compile_seconds = time.perf_counter() - compile_start
    if run.state is None:
        run.state = run.runner.init(run.seeds)
        save_checkpoint(run, run.state, run.history)

    start_steps = int(np.asarray(run.state.env_steps.value()).reshape(-1)[0])
    train_start = time.perf_counter()
    interrupted = False
    per_iteration = run.runner.progress_per_iteration
    bar = tqdm(
        total=target * per_iteration,
        initial=run.iterations_done * per_iteration,
        unit="it",
        file=sys.stderr,
        desc=f"{run.algorithm} {run.env_id}",
        disable=args.no_progress,
        dynamic_ncols=True,
    )

    def progress(units: int, returns: Any, seed_index: int | None) -> None:
        bar.update(units)
        postfix = progress_postfix(run, returns)
        if seed_index is not None and len(run.seeds) > 1:
            postfix["seed"] = str(run.seeds[seed_index])
        bar.set_postfix(postfix)

    try:
        while run.iterations_done < target:
            count = min(run.chunk_size, target - run.iterations_done)
            state, metrics = run.runner.run_chunk(run.state, count, progress)
            history = _append(run.history, metrics)
            # The checkpoint and the run's record change together: after Ctrl-C the metrics
            # and curve written below describe exactly the checkpoint on disk.
            with _deferred_interrupt():
                save_checkpoint(run, state, history)
                run.state, run.history = state, history
                run.iterations_done += count
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
    train_seconds = time.perf_counter() - train_start

    returns = None
    eval_seconds = 0.0
    if args.eval_episodes and not interrupted:
        eval_start = time.perf_counter()
        returns = run.runner.evaluate(run.state, run.seeds, args.eval_episodes, greedy=False)
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
        steps_now = (summary["env_steps_per_seed"] - start_steps) * len(run.member_seeds)
        summary["env_steps_per_second"] = round(steps_now / train_seconds)
    summary.update(run.runner.report())
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

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
from jaxpg.cli.programs import COMPILE_CACHE_VARIABLE, exit_if_abandoned
from jaxpg.cli.run import CHECKPOINT_FILE, CONFIG_FILE, Run
from jaxpg.cli.runs import setup_new_run, setup_resume


def train_command(args: argparse.Namespace) -> int:
    """``jaxpg train``: a new run or ``--resume``; see `jaxpg.cli` for what it does and writes."""
    started = time.perf_counter()
    check_count("--eval-episodes", args.eval_episodes, 0)
    run = setup_resume(args) if args.resume else setup_new_run(args)
    try:
        status = _train(run, args, started)
    finally:
        run.runner.close()
    exit_if_abandoned(status)
    return status


def _train(run: Run, args: argparse.Namespace, started: float) -> int:
    """The chunked loop, the final evaluation and the run's files, through `run.runner`."""
    import jax
    import numpy as np
    from tqdm import tqdm

    created = run.state is None and not os.path.exists(run.out_dir)
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
    cache = jax.config.jax_compilation_cache_dir
    print(
        f"compilation cache: {cache} ({COMPILE_CACHE_VARIABLE}=off turns it off)"
        if cache
        else f"compilation cache: off ({COMPILE_CACHE_VARIABLE}=DIR turns it on)",
        file=sys.stderr,
    )
    new_run = run.state is None
    config_file = os.path.join(run.out_dir, CONFIG_FILE)
    previous_record = None if new_run else _read_text(config_file)
    try:
        write_outputs(run, {"status": "running"}, metrics=False)
        compile_start = time.perf_counter()
        compiled = run.runner.compile(run.state, args.eval_episodes)
        compile_seconds = time.perf_counter() - compile_start
        if new_run:
            run.state = run.runner.init(run.seeds)
            save_checkpoint(run, run.state, run.history)
    except KeyboardInterrupt:
        # Before the first checkpoint nothing is worth keeping: a new run's directory goes
        # (what this command wrote in it), a resumed run's record is put back as it was.
        if new_run:
            _remove_unsaved_run(run.out_dir, created)
            what = run.out_dir if created else f"the files it wrote in {run.out_dir}"
            print(f"interrupted before the first checkpoint; removed {what}", file=sys.stderr)
        else:
            with open(config_file, "w", encoding="utf-8") as file:
                file.write(previous_record or "")
            print(
                f"interrupted before training resumed; {run.out_dir} is unchanged", file=sys.stderr
            )
        return EXIT_INTERRUPTED

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


def _read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except OSError:
        return None


def _remove_unsaved_run(out_dir: str, created: bool) -> None:
    """Removes the files a new run writes before its first checkpoint (config.json, a partial
    checkpoint), and the directory if this command created it and it is now empty."""
    names = [CONFIG_FILE, CHECKPOINT_FILE]
    names += [n for n in os.listdir(out_dir) if n.startswith((CONFIG_FILE, CHECKPOINT_FILE))]
    for name in names:
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(out_dir, name))
    if created:
        with contextlib.suppress(OSError):
            os.rmdir(out_dir)


def _append(history: dict[str, Any], metrics: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    if not history:
        return dict(metrics)
    return {name: np.concatenate([history[name], metrics[name]], axis=1) for name in metrics}

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

from jaxpg.cli.options import EXIT_INTERRUPTED, CLIError, check_count, runs_on_host
from jaxpg.cli.outputs import (
    make_summary,
    print_summary,
    progress_postfix,
    save_checkpoint,
    warm_up_plotting,
    write_outputs,
)
from jaxpg.cli.programs import (
    COMPILE_CACHE_VARIABLE,
    exit_if_abandoned,
    interrupt_handled,
    raise_if_interrupted,
)
from jaxpg.cli.run import CHECKPOINT_FILE, CONFIG_FILE, Run
from jaxpg.cli.runs import setup_new_run, setup_resume


def train_command(args: argparse.Namespace) -> int:
    """``jaxpg train``: a new run or ``--resume``; see `jaxpg.cli` for what it does and writes."""
    started = time.perf_counter()
    _check_loggers(args)
    check_count("--eval-episodes", args.eval_episodes, 0)
    check_count("--eval-every", args.eval_every, 0)
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
    mode = "" if runs_on_host(run.env) else f"; programs compile {run.compile_mode} (--compile)"
    print(
        f"compilation cache: {cache} ({COMPILE_CACHE_VARIABLE}=off turns it off){mode}"
        if cache
        else f"compilation cache: off ({COMPILE_CACHE_VARIABLE}=DIR turns it on){mode}",
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
        interrupt_handled()
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

    from jaxpg.loggers import close_loggers, log_chunk

    loggers = _start_loggers(run, args)
    warm_up_plotting()
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

    # The latest evaluation during training (sampled, greedy returns per member), if any.
    latest_eval: list[Any] = [None]

    def progress(units: int, returns: Any, seed_index: int | None) -> None:
        raise_if_interrupted()  # a Ctrl-C that Python dropped (see `interrupt_handler`)
        bar.update(units)
        postfix = progress_postfix(run, returns, latest_eval[0])
        if seed_index is not None and len(run.seeds) > 1:
            postfix["seed"] = str(run.seeds[seed_index])
        bar.set_postfix(postfix)

    try:
        while run.iterations_done < target:
            count = min(run.chunk_size, target - run.iterations_done)
            state, metrics = run.runner.run_chunk(run.state, count, progress)
            if _note_evaluation(latest_eval, metrics):
                bar.set_postfix(
                    progress_postfix(run, metrics["episode_return"][:, -1], latest_eval[0])
                )
            history = _append(run.history, metrics)
            # The checkpoint and the run's record change together: after Ctrl-C the metrics
            # and curve written below describe exactly the checkpoint on disk.
            with _deferred_interrupt():
                save_checkpoint(run, state, history)
                run.state, run.history = state, history
                run.iterations_done += count
                log_chunk(loggers, metrics)
    except KeyboardInterrupt:
        interrupt_handled()
        interrupted = True
    finally:
        bar.close()
        close_loggers(loggers)
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


def _note_evaluation(latest: list[Any], metrics: dict[str, Any]) -> bool:
    """Keeps the chunk's last evaluation during training in ``latest[0]`` (sampled and greedy
    returns per member); True when the chunk had one."""
    import numpy as np

    if "eval_return" not in metrics:
        return False
    evaluated = np.flatnonzero(np.isfinite(metrics["eval_return"]).all(axis=0))
    if evaluated.size == 0:
        return False
    column = evaluated[-1]
    latest[0] = (metrics["eval_return"][:, column], metrics["eval_greedy_return"][:, column])
    return True


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


def _check_loggers(args: argparse.Namespace) -> None:
    """Refuses an unknown ``--logger`` name or a logger whose library is missing, before
    anything imports jax or trains.

    Raises:
        CLIError: the name and the known ones, or the pip command of the missing library.
    """
    from jaxpg.loggers import check_logger_names

    try:
        check_logger_names(getattr(args, "logger", "csv"))
    except ValueError as error:
        raise CLIError(str(error)) from None


def _start_loggers(run: Run, args: argparse.Namespace) -> list[Any]:
    """The ``--logger`` loggers of the run (`jaxpg.loggers.make_loggers`): none for ``csv``,
    which is metrics.csv, written from the whole history. A sweep's members are
    ``point_<g>_seed_<s>`` (grid point ``g`` of sweep.csv), with their swept values as
    TensorBoard hyperparameters.

    Raises:
        CLIError: a logger could not start (e.g. W&B without a login; its message).
    """
    from jaxpg.loggers import make_loggers, parse_logger_names

    names = [name for name in parse_logger_names(getattr(args, "logger", "csv")) if name != "csv"]
    if not names:
        return []
    config = {"algorithm": run.algorithm, "env_id": run.env_id, "env_kwargs": run.env_kwargs}
    config.update(run.config.to_dict())
    config["seeds"] = list(run.seeds)
    members = None
    if run.sweep is not None:
        config["sweep"] = run.sweep.to_dict()
        members = {
            f"point_{point}_seed_{seed}": {**run.sweep.values(point), "seed": seed}
            for point in range(len(run.sweep.points))
            for seed in run.seeds
        }
    try:
        loggers = make_loggers(names, run.out_dir, config, run.seeds, members=members)
    except Exception as error:  # the library's own errors (a W&B login, a network)
        raise CLIError(
            f"--logger {','.join(names)}: could not start: {error} ({run.out_dir} holds a "
            f"checkpoint: `jaxpg train --resume {run.out_dir}` continues the run)"
        ) from None
    print(
        f"logging metrics to {' and '.join(names)} "
        f"({', '.join(_logger_place(run, name) for name in names)})",
        file=sys.stderr,
    )
    return loggers


def _logger_place(run: Run, name: str) -> str:
    if name == "tensorboard":
        return f"tensorboard --logdir {os.path.join(run.out_dir, 'tensorboard')}"
    return f"W&B files in {os.path.join(run.out_dir, 'wandb')}"

"""A run's files (config.json, metrics.csv, learning_curve.png or the sweep's sweep.csv, sweep.md
and sweep.png; the checkpoint) and its printed summary."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from jaxpg.cli.run import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    CURVE_FILE,
    METRICS_FILE,
    SWEEP_CSV,
    SWEEP_PLOT,
    SWEEP_TABLE,
    Run,
)
from jaxpg.cli.sweep import (
    Sweep,
    format_mean_std,
    format_sweep_table,
    sweep_results,
    write_sweep_csv,
)


def config_record(
    algorithm: str, config: Any, env_id: str, env_kwargs: dict[str, Any], seeds: list[int]
) -> dict[str, Any]:
    from jaxpg import __version__
    from jaxpg.checkpoint import _json_ready

    return {
        "algorithm": algorithm,
        "config_class": type(config).__name__,
        "env_id": env_id,
        "env_kwargs": _json_ready(env_kwargs),
        "config": config.to_dict(),
        "seeds": list(seeds),
        "jaxpg_version": __version__,
    }


def write_json(path: str, record: dict[str, Any]) -> None:
    temporary = f"{path}.tmp"
    with open(temporary, "w") as file:
        json.dump(record, file, indent=2)
        file.write("\n")
    os.replace(temporary, path)


def _metric_columns(metrics: dict[str, Any]) -> list[str]:
    first = [name for name in ("env_steps", "episode_return", "episode_length") if name in metrics]
    return first + sorted(name for name in metrics if name not in first)


def _format_cell(name: str, value: Any) -> str:
    """A metrics.csv cell; ``env_steps`` as the whole number it counts (the metric is float32,
    exact below 2**24 steps)."""
    if name == "env_steps":
        return str(round(float(value)))
    return _format_number(value)


def _format_number(value: Any) -> str:
    import numpy as np

    value = np.asarray(value)
    if np.issubdtype(value.dtype, np.integer) or value.dtype == bool:
        return str(int(value))
    return str(value.item() if value.dtype == np.float64 else np.float32(value))


def write_metrics_csv(
    path: str,
    metrics: dict[str, Any],
    seeds: Sequence[int],
    first_iteration: int = 1,
    sweep: Sweep | None = None,
) -> None:
    """One row per iteration and seed: ``iteration, seed, env_steps, <every metric>``.

    With ``sweep``, one row per iteration, grid point and seed: ``iteration, grid_point,
    <swept fields>, seed, env_steps, ...``; metric rows are members ``g * len(seeds) + k``.
    """
    import csv

    labels: list[list[Any]] = [[seed] for seed in seeds]
    head = ["seed"]
    if sweep is not None:
        labels = [
            [index, *(f"{value:g}" for value in point), seed]
            for index, point in enumerate(sweep.points)
            for seed in seeds
        ]
        head = ["grid_point", *sweep.fields, "seed"]
    columns = _metric_columns(metrics)
    num_iterations = next(iter(metrics.values())).shape[1] if metrics else 0
    temporary = f"{path}.tmp"
    with open(temporary, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["iteration", *head, *columns])
        for index in range(num_iterations):
            for row, label in enumerate(labels):
                writer.writerow(
                    [first_iteration + index, *label]
                    + [_format_cell(name, metrics[name][row, index]) for name in columns]
                )
    os.replace(temporary, path)


def save_checkpoint(run: Run, state: Any, history: dict[str, Any]) -> None:
    from jaxpg import checkpoint

    checkpoint.save(
        os.path.join(run.out_dir, CHECKPOINT_FILE),
        state,
        config=run.config,
        metrics=history,
        metadata=run.metadata(),
    )


def warm_up_plotting() -> None:
    """Imports matplotlib's figure and Agg modules and draws a small figure with text in a
    daemon thread, so that the learning curve after training is drawn at once (the first
    figure of a process costs about 1 s of imports and font loading on 2 cores). Called when
    training starts: the thread runs while the compiled program does."""
    import threading

    def warm_up() -> None:
        import io

        try:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure

            figure = Figure(figsize=(2, 2), dpi=30)
            FigureCanvasAgg(figure)
            axes = figure.add_subplot()
            axes.plot([0, 1], [1, 0], label="curve")
            axes.set_xlabel("environment steps")
            axes.legend(fontsize="small")
            figure.suptitle("warm-up")
            figure.savefig(io.BytesIO(), format="png")
        except Exception:  # the real plot reports its own errors
            pass

    threading.Thread(target=warm_up, daemon=True, name="plotting warm-up").start()


def write_outputs(run: Run, summary: dict[str, Any], metrics: bool = True) -> None:
    """config.json, and with ``metrics`` metrics.csv and learning_curve.png."""
    from jaxpg.plotting import plot_learning_curve

    record = config_record(run.algorithm, run.config, run.env_id, run.env_kwargs, run.seeds)
    if run.sweep is not None:
        record["sweep"] = run.sweep.to_dict()
    record["chunk_size"] = run.chunk_size
    record["compile"] = run.compile_mode
    record["summary"] = summary
    write_json(os.path.join(run.out_dir, CONFIG_FILE), record)
    if metrics and run.history:
        first = run.iterations_done - next(iter(run.history.values())).shape[1] + 1
        write_metrics_csv(
            os.path.join(run.out_dir, METRICS_FILE), run.history, run.seeds, first, run.sweep
        )
        seeds = f"{len(run.seeds)} seeds" if len(run.seeds) > 1 else f"seed {run.seeds[0]}"
        if run.sweep is not None:
            _write_sweep_outputs(run, summary, seeds)
            return
        max_kl = getattr(run.config, "max_kl", None)
        plot_learning_curve(
            run.history,
            os.path.join(run.out_dir, CURVE_FILE),
            title=f"{run.algorithm} on {run.env_id} ({seeds})",
            bounds=None if max_kl is None else {"kl": float(max_kl)},
        )


def make_summary(
    run: Run, returns: Any, compiled: list[str], interrupted: bool, seconds: dict[str, float]
) -> dict[str, Any]:
    """The run's summary (config.json's ``summary``). Returns of seeds that have finished no
    episode yet (NaN in the metrics) are None, and left out of means."""
    import numpy as np

    summary: dict[str, Any] = {
        "status": "interrupted" if interrupted else "finished",
        "iterations": run.iterations_done,
        "num_iterations": run.config.num_iterations,
        "chunk_size": run.chunk_size,
        "compiled_programs": list(compiled),
    }
    if run.history:
        summary["env_steps_per_seed"] = int(np.asarray(run.state.env_steps.value()).reshape(-1)[0])
    if run.sweep is not None:
        summary["grid_points"] = len(run.sweep.points)
        if returns is not None:
            summary["eval_episodes_per_seed"] = int(returns.shape[1])
        if run.history:
            records = sweep_results(
                run.sweep, len(run.seeds), run.history["episode_return"][:, -1], returns
            )
            summary["best_grid_point"] = next((r["grid_point"] for r in records if r["best"]), None)
            summary["sweep"] = records
        summary.update({name: round(value, 3) for name, value in seconds.items()})
        return summary
    if run.history:
        final = run.history["episode_return"][:, -1]
        finished = final[np.isfinite(final)]
        summary["final_return_mean"] = float(finished.mean()) if finished.size else None
        summary["final_return_per_seed"] = [
            float(value) if np.isfinite(value) else None for value in final
        ]
    if returns is not None:
        summary["eval_episodes_per_seed"] = int(returns.shape[1])
        summary["eval_return_mean"] = float(returns.mean())
        summary["eval_return_std"] = float(returns.std())
        summary["eval_return_per_seed"] = [float(value) for value in returns.mean(axis=1)]
    if run.history and "eval_return" in run.history:
        latest = latest_evaluation(run.history, run.config.eval_episodes)
        if latest is not None:
            summary["training_eval"] = latest
    summary.update({name: round(value, 3) for name, value in seconds.items()})
    return summary


def latest_evaluation(history: dict[str, Any], episodes: int) -> dict[str, Any] | None:
    """The last evaluation during training in ``history`` (``[members, iterations]`` arrays
    with `jaxpg.evaluation.EVAL_METRICS`), or None before the first: where it was (iteration
    index from 1 within ``history``, env steps per seed), and for sampled and greedy actions
    the mean and standard deviation over every seed's episodes, and each seed's mean."""
    import numpy as np

    evaluated = np.flatnonzero(np.isfinite(history["eval_return"]).all(axis=0))
    if evaluated.size == 0:
        return None
    column = int(evaluated[-1])
    record: dict[str, Any] = {
        "history_index": column,
        "env_steps_per_seed": int(round(float(history["env_steps"][0, column]))),
        "episodes_per_seed": int(episodes),
    }
    for kind, prefix in (("sampled", "eval_return"), ("greedy", "eval_greedy_return")):
        means = np.asarray(history[prefix][:, column], np.float64)
        stds = np.asarray(history[f"{prefix}_std"][:, column], np.float64)
        grand = means.mean()
        # Every seed plays as many episodes: the pooled spread of all of them.
        pooled = float(np.sqrt(np.mean(stds**2 + (means - grand) ** 2)))
        record[kind] = {
            "mean": float(grand),
            "std": pooled,
            "per_seed": [float(value) for value in means],
        }
    return record


def _final_return_text(summary: dict[str, Any]) -> str:
    """The training-episodes line: the episodes that ended in the last iteration (mean over
    the seeds that have finished one): exploration included, not an evaluation."""
    mean, per_seed = summary["final_return_mean"], summary["final_return_per_seed"]
    if mean is None:
        return "training episodes (last iteration): n/a, no episode has finished yet"
    finished = [value for value in per_seed if value is not None]
    spread = ""
    if len(finished) > 1:
        spread = f" (seeds from {min(finished):.4g} to {max(finished):.4g})"
    if len(finished) < len(per_seed):
        unfinished = len(per_seed) - len(finished)
        spread += f" ({unfinished} seed{'s' if unfinished > 1 else ''} with no finished episode)"
    return (
        f"training episodes (those that ended in the last iteration, exploring; mean over "
        f"seeds): {mean:.4g}{spread}"
    )


def _training_eval_text(run: Run, summary: dict[str, Any]) -> str:
    """The line of the last evaluation during training."""
    record = summary["training_eval"]
    iteration = run.iterations_done - next(iter(run.history.values())).shape[1]
    iteration += record["history_index"] + 1
    sampled, greedy = record["sampled"], record["greedy"]
    return (
        f"evaluation during training (the last, after iteration {iteration}, "
        f"{record['env_steps_per_seed']:,} env steps; {record['episodes_per_seed']} episodes "
        f"per seed each): greedy {greedy['mean']:.4g} ± {greedy['std']:.3g}, sampled "
        f"{sampled['mean']:.4g} ± {sampled['std']:.3g}"
    )


def print_summary(run: Run, summary: dict[str, Any]) -> None:
    seeds = len(run.seeds)
    grid = ""
    if run.sweep is not None:
        points = len(run.sweep.points)
        grid = f" x {points} grid points ({seeds * points} runs vmapped in one program)"
    lines = [
        f"{run.algorithm} on {run.env_id}: {summary['iterations']} iterations"
        + (
            f", {summary['env_steps_per_seed']:,} env steps per seed"
            if "env_steps_per_seed" in summary
            else ""
        )
        + f", {seeds} seed{'s' if seeds > 1 else ''}{grid}"
    ]
    if "sweep" in summary:
        lines.append(_sweep_text(run, summary))
    # Evaluations first (the policy on episodes of its own), then the training episodes.
    if "eval_return_mean" in summary:
        lines.append(
            f"evaluation after training ({summary['eval_episodes_per_seed']} episodes per seed, "
            f"sampled actions): {summary['eval_return_mean']:.4g} "
            f"± {summary['eval_return_std']:.3g}"
        )
    if "training_eval" in summary:
        lines.append(_training_eval_text(run, summary))
    if "final_return_mean" in summary:
        lines.append(_final_return_text(summary))
    rate = (
        f", {summary['env_steps_per_second'] / 1e3:.3g}k env steps/s"
        if summary.get("env_steps_per_second")
        else ""
    )
    eval_time = f", eval {format_seconds(summary['eval_s'])}" if summary["eval_s"] else ""
    if "host_seconds" in summary:
        host = summary["host_seconds"]
        in_turn = ", seeds in turn" if seeds > 1 else ""
        lines.append(
            f"wall-clock {format_seconds(summary['wall_clock_s'])}: training "
            f"{format_seconds(summary['train_s'])}{rate} (gymnasium on the host{in_turn}: env "
            f"{format_seconds(host['env'])}, policy {format_seconds(host['policy'])}, update "
            f"{format_seconds(host['update'])} with its compilation){eval_time}"
        )
    else:
        compiled = summary["compiled_programs"]
        what = (
            f"{len(compiled)} program{'s' if len(compiled) != 1 else ''}: {', '.join(compiled)}"
            if compiled
            else "none: this process had compiled them"
        )
        chunk = summary["chunk_size"]
        lines.append(
            f"wall-clock {format_seconds(summary['wall_clock_s'])}: compile "
            f"{format_seconds(summary['compile_s'])} ({what}; one chunk program of {chunk} "
            f"iteration{'s' if chunk != 1 else ''} serves every chunk), training "
            f"{format_seconds(summary['train_s'])}{rate}{eval_time}"
        )
    files = [CONFIG_FILE, METRICS_FILE, CURVE_FILE, CHECKPOINT_FILE]
    if run.sweep is not None:
        files = [CONFIG_FILE, METRICS_FILE, SWEEP_CSV, SWEEP_TABLE, SWEEP_PLOT, CHECKPOINT_FILE]
    # The loggers' folders (`jaxpg.loggers`), when this run has them.
    files += [
        f"{name}/"
        for name in ("tensorboard", "wandb")
        if os.path.isdir(os.path.join(run.out_dir, name))
    ]
    lines.append(f"wrote {run.out_dir}: {' '.join(files)}")
    print("\n".join(lines))


def _sweep_text(run: Run, summary: dict[str, Any]) -> str:
    """The sweep's table (markdown) and its best grid point."""
    assert run.sweep is not None
    records = summary["sweep"]
    table = format_sweep_table(
        run.sweep, records, len(run.seeds), summary.get("eval_episodes_per_seed", 0)
    )
    if summary["best_grid_point"] is None:
        return f"{table}\nbest: n/a, no episode has finished yet"
    best = records[summary["best_grid_point"]]
    by = "eval" if "eval_return_mean" in best else "final"
    return (
        f"{table}\nbest ({by} return, mean over seeds): grid point {best['grid_point']}, "
        f"{run.sweep.label(best['grid_point'])}: "
        f"{format_mean_std(best[f'{by}_return_mean'], best[f'{by}_return_std'])}"
    )


def _write_sweep_outputs(run: Run, summary: dict[str, Any], seeds: str) -> None:
    """sweep.csv, sweep.md and sweep.png (return per grid point, mean and band over seeds)."""
    from jaxpg.plotting import plot_sweep

    assert run.sweep is not None
    if "sweep" not in summary:
        return
    write_sweep_csv(os.path.join(run.out_dir, SWEEP_CSV), run.sweep, summary["sweep"])
    title = f"{run.algorithm} on {run.env_id}: sweep over {', '.join(run.sweep.fields)} ({seeds})"
    with open(os.path.join(run.out_dir, SWEEP_TABLE), "w") as file:
        file.write(f"# {title}\n\n{_sweep_text(run, summary)}\n")
    points = len(run.sweep.points)
    returns = run.history["episode_return"]
    plot_sweep(
        returns.reshape(points, len(run.seeds), returns.shape[-1]),
        run.history["env_steps"][0],
        [run.sweep.label(index) for index in range(points)],
        os.path.join(run.out_dir, SWEEP_PLOT),
        title=title,
        best=summary["best_grid_point"],
    )


def progress_postfix(run: Run, returns: Any, evaluation: Any = None) -> dict[str, str]:
    """The bar's postfix: the latest evaluation during training (``evaluation``: sampled and
    greedy returns per member, or None before the first), then the latest training episodes'
    return (mean over the members that have finished an episode, "n/a" before any has), and
    the best grid point's in a sweep."""
    import numpy as np

    returns = np.asarray(returns, np.float64)
    postfix = {}
    if evaluation is not None:
        postfix["eval greedy"] = _format_mean(np.asarray(evaluation[1], np.float64))
        postfix["eval"] = _format_mean(np.asarray(evaluation[0], np.float64))
    postfix["train"] = _format_mean(returns)
    if run.sweep is not None:
        rows = [row[np.isfinite(row)] for row in returns.reshape(len(run.sweep.points), -1)]
        means = [row.mean() for row in rows if row.size]
        postfix["best"] = f"{max(means):.4g}" if means else "n/a"
    return postfix


def _format_mean(values: Any) -> str:
    import numpy as np

    finite = values[np.isfinite(values)]
    return f"{finite.mean():.4g}" if finite.size else "n/a"


def format_seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 100 else f"{value / 60:.1f} min"

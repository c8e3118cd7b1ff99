"""Learning curves over seeds: the mean, a standard-deviation band and the min-max range.

NaN values (``episode_return`` before the first episode has finished) are left out: a seed
without a value does not enter that iteration's statistics, and an iteration where no seed has
one is a gap in the curve, never a point.

Uses matplotlib's object-oriented API with the Agg canvas, so no display is needed and the
global pyplot backend of the caller (a notebook, say) is left alone.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

#: Metric panels drawn by default when present: seed 001's two curves (return and loss).
DEFAULT_PANELS = ("episode_return", "policy_loss")


def seed_statistics(values: Any) -> dict[str, np.ndarray]:
    """``mean``, ``std``, ``min`` and ``max`` over the seed axis (0) of ``[seeds, iterations]``,
    ignoring NaN; NaN where every seed is NaN."""
    values = np.asarray(values, dtype=np.float64)
    with warnings.catch_warnings():  # all-NaN columns: NaN is the answer, not a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        return {
            "mean": np.nanmean(values, axis=0),
            "std": np.nanstd(values, axis=0),
            "min": np.nanmin(values, axis=0),
            "max": np.nanmax(values, axis=0),
        }


def plot_learning_curve(
    metrics: dict[str, Any],
    path: str | os.PathLike,
    panels: Sequence[str] = DEFAULT_PANELS,
    title: str | None = None,
) -> None:
    """Plots metrics per iteration against environment steps and saves the figure.

    Args:
        metrics: metric name to array ``[num_seeds, num_iterations]`` (or ``[num_iterations]``);
            must hold ``env_steps``.
        path: the image file (``.png``; the format follows the extension).
        panels: metric names, one panel each; missing ones are skipped.
        title: the figure title.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if "env_steps" not in metrics:
        raise ValueError("metrics must include 'env_steps' (the x axis)")
    arrays = {
        name: np.atleast_2d(np.asarray(value, dtype=np.float64)) for name, value in metrics.items()
    }
    names = [name for name in panels if name in arrays] or [
        name for name in arrays if name != "env_steps"
    ][:1]
    steps = arrays["env_steps"].mean(axis=0)
    figure = Figure(figsize=(5.0 * max(len(names), 1), 3.6), layout="constrained")
    FigureCanvasAgg(figure)
    for index, name in enumerate(names):
        axes = figure.add_subplot(1, len(names), index + 1)
        values = arrays[name]
        stats = seed_statistics(values)
        mean, std = stats["mean"], stats["std"]
        num_seeds = values.shape[0]
        if num_seeds > 1:
            axes.fill_between(
                steps,
                stats["min"],
                stats["max"],
                alpha=0.15,
                color="C0",
                linewidth=0,
                label="min-max",
            )
            axes.fill_between(
                steps, mean - std, mean + std, alpha=0.3, color="C0", linewidth=0, label="± std"
            )
        axes.plot(
            steps, mean, color="C0", label=f"mean of {num_seeds} seeds" if num_seeds > 1 else "seed"
        )
        axes.set_xlabel("environment steps")
        axes.set_ylabel(name.replace("_", " "))
        axes.grid(alpha=0.3)
        if num_seeds > 1:
            axes.legend(loc="best", fontsize="small")
    if title:
        figure.suptitle(title)
    figure.savefig(os.fspath(path), dpi=100)


def plot_sweep(
    returns: Any,
    env_steps: Any,
    labels: Sequence[str],
    path: str | os.PathLike,
    title: str | None = None,
    best: int | None = None,
) -> None:
    """Plots a hyperparameter sweep: one curve per grid point, its mean and ± std band over seeds.

    Args:
        returns: ``[num_points, num_seeds, num_iterations]`` episode returns.
        env_steps: ``[num_iterations]`` environment steps per seed (the x axis).
        labels: ``num_points`` legend entries (e.g. ``"learning_rate=0.001"``).
        path: the image file (``.png``; the format follows the extension).
        title: the figure title.
        best: index of a grid point to draw thicker and mark in the legend.
    """
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    returns = np.asarray(returns, dtype=np.float64)
    if returns.ndim != 3 or returns.shape[0] != len(labels):
        raise ValueError(
            f"returns must be [num_points, num_seeds, num_iterations] with num_points = "
            f"{len(labels)} labels; got shape {returns.shape}"
        )
    steps = np.asarray(env_steps, dtype=np.float64)
    figure = Figure(figsize=(7.5, 4.5), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    colors = colormaps["viridis"](np.linspace(0.0, 0.9, len(labels)))
    num_seeds = returns.shape[1]
    for index, (label, color) in enumerate(zip(labels, colors, strict=True)):
        stats = seed_statistics(returns[index])
        mean, std = stats["mean"], stats["std"]
        if num_seeds > 1:
            axes.fill_between(steps, mean - std, mean + std, color=color, alpha=0.2, linewidth=0)
        axes.plot(
            steps,
            mean,
            color=color,
            linewidth=2.5 if index == best else 1.3,
            label=f"{label} (best)" if index == best else label,
        )
    axes.set_xlabel("environment steps")
    band = f"mean ± std over {num_seeds} seeds" if num_seeds > 1 else "one seed"
    axes.set_ylabel(f"episode return ({band})")
    axes.grid(alpha=0.3)
    axes.legend(loc="best", fontsize="small")
    if title:
        axes.set_title(title, fontsize="medium")
    figure.savefig(os.fspath(path), dpi=100)

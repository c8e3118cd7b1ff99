"""Learning curves over seeds: smoothed means, a standard-deviation band, the raw values faint.

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

#: Panels after the returns, in order, when the run has the metric: what tells a practitioner
#: whether an update behaved (the step's KL, against its bound where there is one), whether the
#: policy still explores (entropy), and how well the critic fits (value loss); then the rest.
DIAGNOSTIC_PANELS = (
    "kl",
    "approx_kl",
    "entropy",
    "value_loss",
    "clip_fraction",
    "exploration_epsilon",
    "policy_loss",
)

#: The returns panel's series: (metric, label, colour). Evaluation first: it is the policy's
#: own performance on separate episodes; training returns mix exploration noise and the
#: episodes that happened to end in an iteration.
RETURN_SERIES = (
    ("eval_greedy_return", "evaluation, greedy action", "C3"),
    ("eval_return", "evaluation, sampled actions", "C1"),
    ("episode_return", "training episodes", "C0"),
)


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


def smooth(values: Any, window: int) -> np.ndarray:
    """Trailing moving average over the last axis, ignoring NaN (a NaN where the whole window
    is NaN): the value at ``i`` averages the finite entries of ``[i - window + 1, i]``."""
    values = np.asarray(values, dtype=np.float64)
    if window <= 1:
        return values.copy()
    finite = np.isfinite(values)
    filled = np.where(finite, values, 0.0)
    zeros = np.zeros(values.shape[:-1] + (1,))
    sums = np.cumsum(np.concatenate([zeros, filled], axis=-1), axis=-1)
    counts = np.cumsum(np.concatenate([zeros, finite.astype(np.float64)], axis=-1), axis=-1)
    index = np.arange(values.shape[-1])
    lower = np.maximum(index + 1 - window, 0)
    total = sums[..., index + 1] - sums[..., lower]
    count = counts[..., index + 1] - counts[..., lower]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def smoothing_window(num_iterations: int) -> int:
    """The moving-average window of the curves: about a twentieth of the run, at least 1."""
    return max(1, num_iterations // 20)


def choose_panels(metrics: dict[str, Any], limit: int = 3) -> list[str]:
    """The diagnostic panels of a run (after the returns): `DIAGNOSTIC_PANELS` that it has,
    in that order, at most ``limit``."""
    return [name for name in DIAGNOSTIC_PANELS if name in metrics][:limit]


def plot_learning_curve(
    metrics: dict[str, Any],
    path: str | os.PathLike,
    panels: Sequence[str] | None = None,
    title: str | None = None,
    bounds: dict[str, float] | None = None,
) -> None:
    """Plots a run's returns and diagnostics against environment steps and saves the figure.

    The first panel holds the returns: evaluation returns during training (greedy and
    sampled, `jaxpg.config.BaseConfig.eval_every`) as points joined by lines, and the training
    episodes' returns as a moving average (`smoothing_window`) with the raw values faint
    behind it. The other panels show ``panels`` (default: `choose_panels`), smoothed the same
    way, with a dashed line at ``bounds[name]`` (e.g. TRPO's ``max_kl``). With several seeds,
    each curve is the mean over seeds with a ± std band.

    Args:
        metrics: metric name to array ``[num_seeds, num_iterations]`` (or ``[num_iterations]``);
            must hold ``env_steps``.
        path: the image file (``.png``; the format follows the extension).
        panels: metric names after the returns, one panel each; missing ones are skipped.
        title: the figure title.
        bounds: a horizontal reference line per metric name (drawn and labelled as a bound).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if "env_steps" not in metrics:
        raise ValueError("metrics must include 'env_steps' (the x axis)")
    arrays = {
        name: np.atleast_2d(np.asarray(value, dtype=np.float64)) for name, value in metrics.items()
    }
    returns = [series for series in RETURN_SERIES if series[0] in arrays]
    panels = choose_panels(arrays) if panels is None else [p for p in panels if p in arrays]
    panels = [name for name in panels if name not in {s[0] for s in RETURN_SERIES}]
    if not returns and not panels:
        panels = [name for name in arrays if name != "env_steps"][:1]
    count = (1 if returns else 0) + len(panels)
    steps = arrays["env_steps"].mean(axis=0)
    window = smoothing_window(steps.size)
    columns = min(count, 2) if count > 2 else count
    rows = -(-count // max(columns, 1))
    figure = Figure(figsize=(5.2 * max(columns, 1), 3.6 * rows), layout="constrained")
    FigureCanvasAgg(figure)
    index = 0
    if returns:
        index += 1
        axes = figure.add_subplot(rows, columns, index)
        for name, label, color in returns:
            if name.startswith("eval_"):
                _plot_points(axes, steps, arrays[name], color, label)
            else:
                _plot_smoothed(axes, steps, arrays[name], color, label, window)
        axes.set_ylabel("episode return")
        _finish(axes, legend=True)
    for name in panels:
        index += 1
        axes = figure.add_subplot(rows, columns, index)
        _plot_smoothed(axes, steps, arrays[name], "C0", name.replace("_", " "), window)
        if bounds and name in bounds:
            axes.axhline(bounds[name], color="C3", linestyle="--", linewidth=1, label="bound")
        axes.set_ylabel(name.replace("_", " "))
        _finish(axes, legend=bool(bounds and name in bounds) or arrays[name].shape[0] > 1)
    if title:
        seeds = arrays["env_steps"].shape[0]
        smoothing = f"moving average of {window} iterations" if window > 1 else "no smoothing"
        spread = f"; mean ± std over {seeds} seeds" if seeds > 1 else ""
        figure.suptitle(f"{title}\n({smoothing}, raw values faint{spread})", fontsize="medium")
    figure.savefig(os.fspath(path), dpi=100)


def _plot_smoothed(
    axes: Any, steps: np.ndarray, values: np.ndarray, color: str, label: str, window: int
) -> None:
    """The raw mean over seeds, faint; its moving average; a ± std band over seeds."""
    stats = seed_statistics(values)
    axes.plot(steps, stats["mean"], color=color, alpha=0.25, linewidth=0.8)
    mean = smooth(stats["mean"], window)
    if values.shape[0] > 1:
        std = smooth(stats["std"], window)
        axes.fill_between(steps, mean - std, mean + std, color=color, alpha=0.2, linewidth=0)
    axes.plot(steps, mean, color=color, linewidth=1.6, label=label)


def _plot_points(axes: Any, steps: np.ndarray, values: np.ndarray, color: str, label: str) -> None:
    """Values recorded at some iterations only (NaN elsewhere): markers joined by lines, and
    with several seeds a ± std band over them."""
    stats = seed_statistics(values)
    present = np.isfinite(stats["mean"])
    if not present.any():
        return
    x, mean, std = steps[present], stats["mean"][present], stats["std"][present]
    if values.shape[0] > 1:
        axes.fill_between(x, mean - std, mean + std, color=color, alpha=0.15, linewidth=0)
    axes.plot(x, mean, color=color, marker="o", markersize=3.5, linewidth=1.4, label=label)


def _finish(axes: Any, legend: bool) -> None:
    axes.set_xlabel("environment steps")
    axes.grid(alpha=0.3)
    if legend:
        axes.legend(loc="best", fontsize="small")


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

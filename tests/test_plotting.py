"""jaxpg.plotting: NaN (no episode finished yet) is left out of curves, never plotted."""

import numpy as np

from jaxpg.plotting import plot_learning_curve, seed_statistics


def test_nan_iterations_are_gaps_and_nan_seeds_are_left_out(tmp_path):
    returns = np.array([[np.nan, 10.0, 20.0], [np.nan, np.nan, 40.0]])
    stats = seed_statistics(returns)
    assert np.isnan(stats["mean"][0]) and np.isnan(stats["max"][0])
    np.testing.assert_allclose(stats["mean"][1:], [10.0, 30.0])
    np.testing.assert_allclose(stats["std"][1:], [0.0, 10.0])
    np.testing.assert_allclose(stats["min"][1:], [10.0, 20.0])
    path = tmp_path / "curve.png"
    steps = np.array([[100.0, 200.0, 300.0]] * 2)
    plot_learning_curve({"episode_return": returns, "env_steps": steps}, path)
    assert path.stat().st_size > 0

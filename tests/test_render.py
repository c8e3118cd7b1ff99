"""jaxpg.render: frames drawn where the state says, episodes recorded to the end, GIF files."""

from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

import jaxpg
import jaxpg.cli
from jaxpg import render
from jaxpg.distributions import Categorical, DiagGaussian

POLE = np.array([202, 152, 101])
AGENT = np.array([40, 90, 220])
ROD, LINK, CAR = render.ROD, render.LINK, render.CAR


def constant_policy(action: int, num_actions: int):
    """A policy whose most probable action is always ``action``."""

    def apply(params, obs):
        del params
        logits = jnp.zeros(num_actions).at[action].set(10.0)
        return Categorical(logits=jnp.broadcast_to(logits, (*obs.shape[:-1], num_actions)))

    return apply


def _columns_of(frame, colour):
    mask = np.all(frame == colour, axis=-1)
    return np.nonzero(mask)[1]


def test_cartpole_frame_draws_cart_and_pole_where_the_state_says():
    upright = render.cartpole_frame(0.0, 0.0)
    assert upright.shape == (320, 480, 3) and upright.dtype == np.uint8
    # x = 0 is the middle of the view; the pole leans the way theta says.
    assert abs(_columns_of(upright, POLE).mean() - 240) < 2
    assert _columns_of(render.cartpole_frame(0.0, 0.3), POLE).mean() > 250
    assert _columns_of(render.cartpole_frame(0.0, -0.3), POLE).mean() < 230
    # The view is 4.8 m wide, so x = 1.2 m is a quarter of the width right of the centre.
    moved = render.cartpole_frame(1.2, 0.0)
    assert abs(_columns_of(moved, POLE).mean() - 360) < 2


def test_gridworld_frame_puts_the_agent_in_its_cell():
    frame = render.gridworld_frame(jaxpg.envs.SEED_GRID, (5, 0), cell_size=48, text="t=0")
    assert frame.shape == (6 * 48 + 24, 6 * 48, 3)
    rows, cols = np.nonzero(np.all(frame == AGENT, axis=-1))
    assert 5 * 48 < rows.mean() < 6 * 48 and 0 < cols.mean() < 48


def test_play_episode_gridworld_records_every_state_then_writes_a_gif(tmp_path):
    env, env_params = jaxpg.make_env("GridWorld-v0", max_steps=9)
    episode = render.play_episode(
        env, env_params, constant_policy(3, 5), None, jax.random.key(0), greedy=True
    )
    assert episode.length == 9 and not episode.terminated
    # Always "right" from (5, 0): columns 0..5, then blocked by the edge.
    np.testing.assert_array_equal(episode.states.position[:, 1], [0, 1, 2, 3, 4, 5, 5, 5, 5, 5])
    np.testing.assert_array_equal(episode.actions, np.full(9, 3))
    np.testing.assert_array_equal(episode.rewards, [-1, -1, -100, -100, -100, -1, -1, -1, -1])
    frames = render.episode_frames(env, env_params, episode)
    assert len(frames) == 10
    path = tmp_path / "grid" / "episode.gif"
    render.write_gif(frames, path, fps=10)
    with Image.open(path) as gif:
        assert gif.n_frames == 10
        assert gif.size == (6 * 48, 6 * 48 + 24)
        assert gif.info["duration"] == 100


def test_play_episode_cartpole_ends_on_termination_with_the_real_final_state(tmp_path):
    env, env_params = jaxpg.make_env("CartPole-v1")
    episode = render.play_episode(
        env, env_params, constant_policy(0, 2), None, jax.random.key(1), greedy=True
    )
    assert episode.terminated and 5 < episode.length < 60
    assert episode.states.x.shape == (episode.length + 1,)
    # The last state is the failing one (not an auto-reset start state).
    assert abs(episode.states.theta[-1]) > env_params.theta_threshold_radians
    frames = render.episode_frames(env, env_params, episode)
    render.write_gif(frames, tmp_path / "cartpole.gif", fps=50)
    with Image.open(tmp_path / "cartpole.gif") as gif:
        assert gif.n_frames == episode.length + 1
        assert gif.size == (480, 320)


def test_text_views_of_a_gridworld_policy():
    env, env_params = jaxpg.make_env("GridWorld-v0", max_steps=30)
    actions = render.gridworld_action_map(env, constant_policy(1, 5), None)
    assert actions.shape == (6, 6) and np.all(actions == 1)
    text = render.format_action_map(actions)
    assert text.count("↑") == 36 and "[1, 1, 1, 1, 1, 1]" in text
    assert "↑" not in render.format_action_map(actions, arrows=False)
    episode = render.play_episode(
        env, env_params, constant_policy(1, 5), None, jax.random.key(0), greedy=True
    )
    trajectory = render.format_trajectory(episode, max_steps=25)
    assert "(5, 0)" in trajectory and "(0, 0)" in trajectory
    assert "5 more steps" in trajectory and "over 30 steps" in trajectory


def test_unsupported_environments_and_bad_arguments_are_refused():
    env, env_params = jaxpg.make_env("Catch-bsuite")
    assert not render.can_render(env, env_params)
    for env_id in ("CartPole-v0", "Pendulum-v1", "Acrobot-v1", "MountainCarContinuous-v0"):
        assert render.can_render(*jaxpg.make_env(env_id))
    episode = render.Episode(
        states=object(),
        observations=np.zeros((1, 3)),
        actions=np.zeros(0),
        rewards=np.zeros(0),
        terminated=False,
    )
    with pytest.raises(ValueError, match="cannot draw Catch-bsuite; rendering supports CartPole"):
        render.episode_frames(env, env_params, episode)
    with pytest.raises(ValueError, match="at least one frame"):
        render.write_gif([], "never.gif")
    with pytest.raises(ValueError, match="fps"):
        render.write_gif([np.zeros((4, 4, 3), np.uint8)], "never.gif", fps=0)


def _is(frame, colour, x, y):
    return bool(np.all(frame[round(y), round(x)] == colour))


def test_pendulum_frame_points_up_at_zero_and_turns_counter_clockwise():
    size, length = 320, 0.4 * 320
    centre, near_end = size / 2, 0.9 * length
    up, down = render.pendulum_frame(0.0), render.pendulum_frame(np.pi)
    assert up.shape == (size, size, 3)
    assert _is(up, ROD, centre, centre - near_end) and not _is(up, ROD, centre, centre + near_end)
    assert _is(down, ROD, centre, centre + near_end)
    assert not _is(down, ROD, centre, centre - near_end)
    # gymnasium's convention: positive theta turns the rod counter-clockwise, to the left.
    left = render.pendulum_frame(np.pi / 2)
    assert _is(left, ROD, centre - near_end, centre)
    assert not _is(left, ROD, centre + near_end, centre)


def test_acrobot_frame_hangs_down_at_zero_and_bends_the_second_link_relative_to_the_first():
    size = 320
    scale, centre = size / (2 * 2.2), size / 2
    hanging = render.acrobot_frame(0.0, 0.0)
    assert _is(hanging, LINK, centre, centre + 1.8 * scale)
    assert not _is(hanging, LINK, centre, centre - 0.5 * scale)
    # theta1 = pi/2: the first link points right; theta2 = pi/2 more: the second one points up.
    bent = render.acrobot_frame(np.pi / 2, np.pi / 2)
    assert _is(bent, LINK, centre + 0.5 * scale, centre)
    assert not _is(bent, LINK, centre - 0.5 * scale, centre)
    assert _is(bent, LINK, centre + scale, centre - 0.8 * scale)
    assert not _is(bent, LINK, centre + scale, centre + 0.8 * scale)
    # The goal line is one link length above the pivot.
    assert _is(bent, (0, 0, 0), 5, centre - scale)


def test_mountain_car_frame_puts_the_car_on_the_hill_at_its_position():
    width = 480
    rows = {}
    for x in (-1.0, -0.5, 0.4):
        frame = render.mountain_car_frame(x, width=width)
        car_rows, car_cols = np.nonzero(np.all(frame == CAR, axis=-1))
        # The car stands on the slope: its centre is half its height (0.025 width) along the
        # hill's normal from the point under it.
        angle = np.arctan(1.35 * np.cos(3 * x))
        assert abs(car_cols.mean() - ((x + 1.2) * width / 1.8 - 0.025 * width * np.sin(angle))) < 2
        rows[x] = car_rows.mean()
    # The valley is near x = -0.52; the goal side climbs higher than the left slope at -1.
    assert rows[-0.5] > rows[-1.0] > rows[0.4]


def test_episode_frames_subsample_evenly_and_keep_the_last_state():
    states = SimpleNamespace(theta=np.linspace(0.0, 1.0, 11), theta_dot=np.zeros(11))
    episode = render.Episode(states, np.zeros((11, 3)), np.zeros((10, 1)), np.ones(10), False)
    env, env_params = jaxpg.make_env("Pendulum-v1")
    assert render.frame_stride(11, 4) == 3 and render.frame_stride(11, None) == 1
    frames = render.episode_frames(env, env_params, episode, max_frames=4)
    assert len(frames) == 5  # t = 0, 3, 6, 9 and the last, 10
    np.testing.assert_array_equal(frames[-1], render.pendulum_frame(1.0, text="t=10  return=10"))


def test_train_then_eval_render_pendulum_writes_a_gif(tmp_path, capsys):
    run_dir, gif = tmp_path / "run", tmp_path / "p.gif"
    tiny = ["--set", "num_envs=2", "--set", "num_steps=8", "--set", "num_minibatches=1"]
    argv = ["train", "ppo", "--env", "Pendulum-v1", "--total-timesteps", "16", *tiny]
    argv += ["--set", "hidden_sizes=4", "--eval-episodes", "0", "--no-progress"]
    assert jaxpg.cli.main([*argv, "--out", str(run_dir)]) == 0
    assert jaxpg.cli.main(["eval", str(run_dir), "--episodes", "1", "--render", str(gif)]) == 0
    assert "wrote" in capsys.readouterr().out
    with Image.open(gif) as image:
        assert image.n_frames == 201 and image.size == (320, 320)
        assert image.info["duration"] == 50  # real time: dt = 0.05 s


def test_gymnasium_environments_draw_themselves_on_the_host():
    env, env_params = jaxpg.make_env("gymnasium:Pendulum-v1")
    assert render.can_render(env, env_params)

    def apply(params, obs):
        del params
        return DiagGaussian(jnp.zeros((*obs.shape[:-1], 1)), jnp.zeros(1))

    recording = render.play_host_episode_frames(
        env, apply, None, jax.random.key(0), max_frames=4, width=100, max_steps=10
    )
    assert recording.length == 10 and recording.stride == 3
    assert len(recording.frames) == 5 and recording.frames[0].shape == (100, 100, 3)
    assert recording.fps == 30

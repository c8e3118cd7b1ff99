"""jaxpg.render: frames drawn where the state says, episodes recorded to the end, GIF files."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

import jaxpg
from jaxpg import render
from jaxpg.distributions import Categorical

POLE = np.array([202, 152, 101])
AGENT = np.array([40, 90, 220])


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
    env, env_params = jaxpg.make_env("Pendulum-v1")
    assert not render.can_render(env, env_params)
    assert render.can_render(*jaxpg.make_env("CartPole-v0"))
    episode = render.Episode(
        states=object(),
        observations=np.zeros((1, 3)),
        actions=np.zeros(0),
        rewards=np.zeros(0),
        terminated=False,
    )
    with pytest.raises(ValueError, match="CartPole and GridWorld"):
        render.episode_frames(env, env_params, episode)
    with pytest.raises(ValueError, match="at least one frame"):
        render.write_gif([], "never.gif")
    with pytest.raises(ValueError, match="fps"):
        render.write_gif([np.zeros((4, 4, 3), np.uint8)], "never.gif", fps=0)

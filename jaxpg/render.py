"""Recording one episode and drawing it: CartPole and GridWorld frames, animated GIFs.

No display is needed: frames are drawn with Pillow into ``[H, W, 3]`` uint8 arrays, and
`write_gif` saves them with Pillow. seed 003's TODO ("write out training video") becomes::

    episode = play_episode(env, env_params, policy.apply, params["policy"], jax.random.key(0))
    write_gif(episode_frames(env, env_params, episode), "cartpole.gif", fps=50)

CartPole is drawn with gymnasium's geometry (a 4.8 m wide view, cart 50 x 30 px and pole 10 px
wide at 600 px, scaled to ``width``). GridWorld shows every cell's value (the goal green, the
costliest cells darkest red) and the agent as a blue disc.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from jaxpg import rollout as rollout_lib

#: Arrows for GridWorld's actions 0 stay, 1 up (row - 1), 2 down, 3 right, 4 left.
GRID_ARROWS = ("·", "↑", "↓", "→", "←")
#: The same as words (Pillow's built-in font has no arrows).
GRID_ACTION_NAMES = ("stay", "up", "down", "right", "left")


class Episode(NamedTuple):
    """One episode, on the host. ``L`` is its length (steps until termination or truncation).

    Attributes:
        states: environment states, leaves ``[L + 1, ...]``: the initial state, then the state
            after every step (the last one is the real final state, not a reset).
        observations: ``[L + 1, *obs_shape]`` observations of those states.
        actions: ``[L, *action_shape]`` actions taken.
        rewards: ``[L]`` rewards received.
        terminated: whether the episode ended in a terminal state (else it was truncated).
    """

    states: Any
    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminated: bool

    @property
    def length(self) -> int:
        return int(self.rewards.shape[0])


def make_play_episode(
    env: Any, env_params: Any, policy_apply: Callable[[Any, jax.Array], Any], greedy: bool = False
) -> Callable[[Any, jax.Array], dict[str, Any]]:
    """``play(policy_params, key) -> arrays`` over the full horizon, for `jax.jit`.

    The episode is stepped without auto-reset (`step_env`) for ``max_steps_in_episode`` steps;
    ``active [T]`` marks the steps before the episode's end. `play_episode` trims it.
    """
    horizon = int(env_params.max_steps_in_episode)
    action_space = env.action_space(env_params)

    def play(policy_params: Any, key: jax.Array) -> dict[str, Any]:
        reset_key, key = jax.random.split(key)
        obs, state = env.reset(reset_key, env_params)

        def step(carry, step_key):
            obs, state, done = carry
            action_key, env_key = jax.random.split(step_key)
            dist = policy_apply(policy_params, obs[None])
            action = (dist.mode() if greedy else dist.sample(action_key))[0]
            next_obs, next_state, reward, terminated, _ = env.step_env(
                env_key, state, rollout_lib.env_action(action_space, action), env_params
            )
            truncated = env.is_truncated(next_state, env_params)
            record = {
                "state": next_state,
                "obs": next_obs,
                "action": action,
                "reward": reward,
                "terminated": terminated,
                "active": ~done,
            }
            return (next_obs, next_state, done | terminated | truncated), record

        _, records = jax.lax.scan(
            step, (obs, state, jnp.zeros((), bool)), jax.random.split(key, horizon)
        )
        records["initial_state"] = state
        records["initial_obs"] = obs
        return records

    return play


def play_episode(
    env: Any,
    env_params: Any,
    policy_apply: Callable[[Any, jax.Array], Any],
    policy_params: Any,
    key: jax.Array,
    greedy: bool = False,
) -> Episode:
    """Plays one episode with a policy network and returns it on the host.

    Args:
        env: a gymnax-API environment with ``step_env`` and ``is_truncated``.
        env_params: its parameters (``max_steps_in_episode`` concrete).
        policy_apply: ``policy.apply`` of a `jaxpg.networks.Policy`.
        policy_params: the policy's parameters.
        key: a PRNG key.
        greedy: take the most probable action instead of sampling.

    Returns:
        An `Episode`.
    """
    records = jax.device_get(
        jax.jit(make_play_episode(env, env_params, policy_apply, greedy))(policy_params, key)
    )
    length = int(np.sum(records["active"]))
    states = jax.tree.map(
        lambda first, rest: np.concatenate([np.asarray(first)[None], rest[:length]]),
        records["initial_state"],
        records["state"],
    )
    observations = np.concatenate([records["initial_obs"][None], records["obs"][:length]])
    return Episode(
        states=states,
        observations=observations,
        actions=records["action"][:length],
        rewards=records["reward"][:length],
        terminated=bool(records["terminated"][length - 1]) if length else False,
    )


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one bitmap size
        return ImageFont.load_default()


def cartpole_frame(
    x: float,
    theta: float,
    x_threshold: float = 2.4,
    pole_half_length: float = 0.5,
    width: int = 480,
    text: str | None = None,
) -> np.ndarray:
    """Draws CartPole with gymnasium's geometry.

    Args:
        x: cart position (m).
        theta: pole angle (rad; positive leans right).
        x_threshold: the failure position; the view spans ``[-2 x_threshold, 2 x_threshold]``.
        pole_half_length: the environment's ``length`` parameter (half the pole).
        width: image width in pixels; the height is two thirds of it.
        text: a caption drawn in the top left corner.

    Returns:
        ``[width * 2 // 3, width, 3]`` uint8.
    """
    height = width * 2 // 3
    s = width / 600.0
    scale = width / (x_threshold * 2)  # pixels per metre; the view is 4.8 m wide, as gymnasium
    pole_width, pole_length = 10 * s, scale * 2 * pole_half_length
    cart_width, cart_height = 50 * s, 30 * s
    cart_y = height - 100 * s
    cart_x = x * scale + width / 2
    image = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.line([(0, cart_y), (width, cart_y)], fill=(0, 0, 0), width=max(1, round(s)))
    draw.rectangle(
        [
            cart_x - cart_width / 2,
            cart_y - cart_height / 2,
            cart_x + cart_width / 2,
            cart_y + cart_height / 2,
        ],
        fill=(0, 0, 0),
    )
    axle_x, axle_y = cart_x, cart_y - cart_height / 4
    cos, sin = math.cos(theta), math.sin(theta)
    corners = [
        (-pole_width / 2, -pole_width / 2),
        (-pole_width / 2, pole_length - pole_width / 2),
        (pole_width / 2, pole_length - pole_width / 2),
        (pole_width / 2, -pole_width / 2),
    ]
    # Pole coordinates are y-up; rotate clockwise by theta and flip y for the screen.
    draw.polygon(
        [(axle_x + px * cos + py * sin, axle_y - (-px * sin + py * cos)) for px, py in corners],
        fill=(202, 152, 101),
    )
    radius = pole_width / 2
    draw.ellipse(
        [axle_x - radius, axle_y - radius, axle_x + radius, axle_y + radius],
        fill=(129, 132, 203),
    )
    if text:
        draw.text((6 * s, 6 * s), text, fill=(90, 90, 90), font=_font(max(10, round(16 * s))))
    return np.asarray(image)


def _cell_colour(value: float, low: float, high: float) -> tuple[int, int, int]:
    if value > 0:
        return (46, 160, 67) if value == high else (160, 220, 170)
    if value == 0:
        return (245, 245, 245)
    # Costs on a log scale: -1 light grey, the largest cost dark red.
    depth = math.log10(-value) / max(math.log10(max(-low, 10.0)), 1e-6)
    light, dark = np.array([235, 235, 235]), np.array([180, 40, 40])
    return tuple(int(c) for c in np.round(light + (dark - light) * min(max(depth, 0.0), 1.0)))


def gridworld_frame(
    grid: Any, position: Sequence[int], cell_size: int = 48, text: str | None = None
) -> np.ndarray:
    """Draws a GridWorld: cell values, and the agent at ``position = (row, col)``.

    Args:
        grid: ``[H, W]`` cell values.
        position: the agent's cell ``(row, col)``.
        cell_size: pixels per cell.
        text: a caption drawn below the grid.

    Returns:
        ``[H * cell_size + 24, W * cell_size, 3]`` uint8.
    """
    grid = np.asarray(grid, dtype=np.float64)
    rows, cols = grid.shape
    footer = 24
    image = Image.new("RGB", (cols * cell_size, rows * cell_size + footer), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    font = _font(max(9, cell_size // 4))
    low, high = float(grid.min()), float(grid.max())
    for row in range(rows):
        for col in range(cols):
            box = [
                col * cell_size,
                row * cell_size,
                (col + 1) * cell_size - 1,
                (row + 1) * cell_size - 1,
            ]
            colour = _cell_colour(grid[row, col], low, high)
            draw.rectangle(box, fill=colour, outline=(255, 255, 255))
            ink = (255, 255, 255) if sum(colour) < 400 else (40, 40, 40)
            draw.text((box[0] + 3, box[1] + 2), f"{grid[row, col]:g}", fill=ink, font=font)
    row, col = int(position[0]), int(position[1])
    margin = cell_size * 0.22
    draw.ellipse(
        [
            col * cell_size + margin,
            row * cell_size + margin,
            (col + 1) * cell_size - margin,
            (row + 1) * cell_size - margin,
        ],
        fill=(40, 90, 220),
        outline=(255, 255, 255),
        width=2,
    )
    if text:
        draw.text((4, rows * cell_size + 5), text, fill=(0, 0, 0), font=_font(13))
    return np.asarray(image)


def episode_frames(env: Any, env_params: Any, episode: Episode) -> list[np.ndarray]:
    """One frame per state of the episode (``L + 1`` frames), captioned with time and return.

    Supports CartPole (any state with ``x`` and ``theta``) and GridWorld (``position`` and a
    ``grid`` parameter); raises ValueError for other environments.
    """
    states = episode.states
    returns = np.concatenate([[0.0], np.cumsum(episode.rewards)])
    frames = []
    if hasattr(states, "x") and hasattr(states, "theta"):
        x_threshold = float(getattr(env_params, "x_threshold", 2.4))
        half_length = float(getattr(env_params, "length", 0.5))
        for t in range(episode.length + 1):
            frames.append(
                cartpole_frame(
                    float(states.x[t]),
                    float(states.theta[t]),
                    x_threshold,
                    half_length,
                    text=f"t={t}  return={returns[t]:g}",
                )
            )
        return frames
    if hasattr(states, "position") and hasattr(env_params, "grid"):
        grid = np.asarray(env_params.grid)
        for t in range(episode.length + 1):
            caption = f"t={t}  return={returns[t]:g}"
            if t < episode.length:
                action = int(episode.actions[t])
                caption += f"  next: {GRID_ACTION_NAMES[action]} ({action})"
            frames.append(gridworld_frame(grid, states.position[t], text=caption))
        return frames
    raise ValueError(
        f"rendering supports CartPole and GridWorld; {getattr(env, 'name', type(env).__name__)} "
        "has neither a cart-pole nor a grid state"
    )


def write_gif(frames: Sequence[np.ndarray], path: str | os.PathLike, fps: float = 30.0) -> None:
    """Writes frames (``[H, W, 3]`` uint8 arrays, equal sizes) as a looping animated GIF.

    Args:
        frames: the frames, at least one.
        path: the ``.gif`` file to write (parent folders are created).
        fps: frames per second (GIF delays are whole centiseconds: 50 fps at most).
    """
    if not frames:
        raise ValueError("write_gif needs at least one frame")
    if fps <= 0:
        raise ValueError(f"fps must be positive; got {fps}")
    images = [Image.fromarray(np.asarray(frame, dtype=np.uint8)) for frame in frames]
    parent = os.path.dirname(os.fspath(path))
    if parent:
        os.makedirs(parent, exist_ok=True)
    images[0].save(
        os.fspath(path),
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=10 * max(1, round(100 / fps)),  # GIF delays are whole centiseconds
        loop=0,
    )


def can_render(env: Any, env_params: Any) -> bool:
    """Whether `episode_frames` can draw this environment (CartPole or GridWorld states)."""
    state = jax.eval_shape(env.reset, jax.random.key(0), env_params)[1]
    cartpole = hasattr(state, "x") and hasattr(state, "theta")
    return cartpole or (hasattr(state, "position") and hasattr(env_params, "grid"))


def gridworld_action_map(
    env: Any, policy_apply: Callable[[Any, jax.Array], Any], policy_params: Any
) -> np.ndarray:
    """The policy's most probable action in every cell of a `GridWorld`, ``[H, W]`` int."""
    rows, cols = env.shape
    obs = jnp.stack([env.observe_cell(row, col) for row in range(rows) for col in range(cols)])
    actions = policy_apply(policy_params, obs).mode()
    return np.asarray(actions).reshape(rows, cols)


def format_action_map(actions: np.ndarray, arrows: bool = True) -> str:
    """An action map as text: a grid of arrows (with ``arrows``), then seed 001's digit rows."""
    actions = np.asarray(actions)
    lines = []
    if arrows:
        lines.append("      " + " ".join(f"{col:>2}" for col in range(actions.shape[1])))
        for row, cells in enumerate(actions):
            lines.append(f"  {row:>2}  " + " ".join(f"{GRID_ARROWS[a]:>2}" for a in cells))
    lines.extend(str([int(a) for a in cells]) for cells in actions)
    return "\n".join(lines)


def format_trajectory(episode: Episode, max_steps: int = 25, arrows: bool = True) -> str:
    """The first ``max_steps`` steps of a GridWorld episode: time, cell, reward, action."""
    lines = ["   t  cell      reward  action"]
    for t in range(min(episode.length, max_steps)):
        row, col = (int(v) for v in episode.states.position[t])
        action = int(episode.actions[t])
        name = f"{GRID_ARROWS[action]} " if arrows else ""
        lines.append(
            f"  {t:>2}  ({row}, {col})  {float(episode.rewards[t]):>8g}  "
            f"{action} {name}{GRID_ACTION_NAMES[action]}"
        )
    if episode.length > max_steps:
        lines.append(f"  ... {episode.length - max_steps} more steps")
    lines.append(f"  return {float(np.sum(episode.rewards)):g} over {episode.length} steps")
    return "\n".join(lines)

"""Recording one episode and drawing it: frames of every environment that can draw itself, GIFs.

No display is needed: frames are drawn with Pillow into ``[H, W, 3]`` uint8 arrays, and
`write_gif` saves them with Pillow. seed 003's TODO ("write out training video") becomes::

    episode = play_episode(env, env_params, policy.apply, params["policy"], jax.random.key(0))
    write_gif(episode_frames(env, env_params, episode), "cartpole.gif", fps=50)

CartPole is drawn with gymnasium's geometry (a 4.8 m wide view, cart 50 x 30 px and pole 10 px
wide at 600 px, scaled to ``width``). GridWorld shows every cell's value (the goal green, the
costliest cells darkest red) and the agent as a blue disc. The other gymnax classic-control
environments are drawn from their states with gymnasium's conventions: Pendulum's rod
(``theta = 0`` up, positive counter-clockwise), Acrobot's two links (``theta1 = 0`` hanging
down, positive counter-clockwise, the second angle relative to the first; the goal line one
link length above the pivot) and MountainCar's hill ``0.45 sin(3 x) + 0.55`` with the car at
``x``. Gymnasium environments on the host (``make_env("gymnasium:<id>")``) draw themselves:
`play_host_episode_frames` plays one episode in an ``render_mode="rgb_array"`` copy.
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
#: What can be drawn, for error messages.
RENDERABLE = (
    "CartPole, GridWorld, Pendulum, Acrobot, MountainCar, MountainCarContinuous, and "
    'gymnasium:<id> environments with render_mode="rgb_array"'
)
#: Frames per second of real time (Acrobot and MountainCar at gymnasium's rendering rate).
FRAMES_PER_SECOND = {
    "cartpole": 50.0,
    "gridworld": 8.0,
    "pendulum": 20.0,
    "acrobot": 15.0,
    "mountaincar": 30.0,
}
#: `jaxpg eval --render` draws at most this many frames (plus the last), subsampling evenly.
MAX_FRAMES = 300
ROD = (204, 77, 77)
LINK = (0, 204, 204)
CAR = (60, 60, 180)


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


def _canvas(width: int, height: int) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("RGB", (width, height), (255, 255, 255))
    return image, ImageDraw.Draw(image)


def _caption(draw: ImageDraw.ImageDraw, text: str | None, size: int) -> None:
    if text:
        draw.text((6, 6), text, fill=(90, 90, 90), font=_font(max(10, size // 30)))


def _disc(draw: ImageDraw.ImageDraw, x: float, y: float, radius: float, fill: Any) -> None:
    draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=fill)


def pendulum_frame(theta: float, size: int = 320, text: str | None = None) -> np.ndarray:
    """Draws Pendulum as gymnasium does: ``theta = 0`` points up, positive turns counter-clockwise.

    Args:
        theta: the rod's angle (rad).
        size: image width and height in pixels; the rod is ``0.4 size`` long.
        text: a caption drawn in the top left corner.

    Returns:
        ``[size, size, 3]`` uint8.
    """
    image, draw = _canvas(size, size)
    centre, length = size / 2, 0.4 * size
    # y-up (-sin, cos) for the rod's direction; the screen's y points down.
    end = (centre - length * math.sin(theta), centre - length * math.cos(theta))
    rod_width = max(2, round(0.06 * size))
    draw.line([(centre, centre), end], fill=ROD, width=rod_width)
    _disc(draw, *end, rod_width / 2, ROD)
    _disc(draw, centre, centre, rod_width / 3, (0, 0, 0))
    _caption(draw, text, size)
    return np.asarray(image)


def acrobot_frame(
    theta1: float,
    theta2: float,
    link_length_1: float = 1.0,
    link_length_2: float = 1.0,
    size: int = 320,
    text: str | None = None,
) -> np.ndarray:
    """Draws Acrobot as gymnasium does: ``theta1 = 0`` hangs down, positive is counter-clockwise.

    Args:
        theta1: the first link's angle from straight down (rad).
        theta2: the second link's angle relative to the first (rad).
        link_length_1: the first link's length (m).
        link_length_2: the second link's length (m).
        size: image width and height in pixels (the view spans the reach plus 0.2 m each way).
        text: a caption drawn in the top left corner.

    Returns:
        ``[size, size, 3]`` uint8, with the goal line (one first-link length above the pivot).
    """
    image, draw = _canvas(size, size)
    scale = size / (2 * (link_length_1 + link_length_2 + 0.2))
    centre = size / 2

    def screen(x: float, y: float) -> tuple[float, float]:
        return centre + x * scale, centre - y * scale

    elbow = (link_length_1 * math.sin(theta1), -link_length_1 * math.cos(theta1))
    tip = (
        elbow[0] + link_length_2 * math.sin(theta1 + theta2),
        elbow[1] - link_length_2 * math.cos(theta1 + theta2),
    )
    goal_y = screen(0.0, link_length_1)[1]
    draw.line([(0, goal_y), (size, goal_y)], fill=(0, 0, 0), width=1)
    link_width = max(2, round(0.2 * scale))
    for start, end in ((screen(0.0, 0.0), screen(*elbow)), (screen(*elbow), screen(*tip))):
        draw.line([start, end], fill=LINK, width=link_width)
        _disc(draw, *end, link_width / 2, LINK)
    for joint in (screen(0.0, 0.0), screen(*elbow)):
        _disc(draw, *joint, link_width / 2, (204, 204, 0))
    _caption(draw, text, size)
    return np.asarray(image)


def mountain_car_frame(
    position: float,
    min_position: float = -1.2,
    max_position: float = 0.6,
    goal_position: float = 0.5,
    width: int = 480,
    text: str | None = None,
) -> np.ndarray:
    """Draws MountainCar: the hill ``0.45 sin(3 x) + 0.55``, the goal flag, the car at ``x``.

    Args:
        position: the car's position ``x`` (m).
        min_position: the left end of the track (the view starts there).
        max_position: the right end of the track.
        goal_position: where the flag stands.
        width: image width in pixels; the height is two thirds of it.
        text: a caption drawn in the top left corner.

    Returns:
        ``[width * 2 // 3, width, 3]`` uint8; the car's centre is ``(position - min_position)
        * width / (max_position - min_position)`` pixels from the left.
    """
    height = width * 2 // 3
    image, draw = _canvas(width, height)
    scale = width / (max_position - min_position)

    def screen(x: float, y: float) -> tuple[float, float]:
        # The hill's lowest point (height 0.1) a little above the bottom edge.
        return (x - min_position) * scale, 0.95 * height - (y - 0.1) * scale

    def hill(x: float) -> float:
        return 0.45 * math.sin(3 * x) + 0.55

    xs = np.linspace(min_position, max_position, 100)
    draw.line([screen(x, hill(x)) for x in xs], fill=(0, 0, 0), width=2)
    flag_x, flag_y = screen(goal_position, hill(goal_position))
    draw.line([(flag_x, flag_y), (flag_x, flag_y - 0.1 * height)], fill=(0, 0, 0), width=2)
    draw.polygon(
        [
            (flag_x, flag_y - 0.1 * height),
            (flag_x, flag_y - 0.07 * height),
            (flag_x + 0.05 * width, flag_y - 0.085 * height),
        ],
        fill=(204, 204, 0),
    )
    # The car stands on the slope: rotated by its angle, lifted by half its height.
    angle = math.atan(1.35 * math.cos(3 * position))
    car_width, car_height = 0.1 * width, 0.05 * width
    cos, sin = math.cos(angle), math.sin(angle)
    base_x, base_y = screen(position, hill(position))
    corners = [(-car_width / 2, 0.0), (-car_width / 2, car_height)]
    corners += [(car_width / 2, car_height), (car_width / 2, 0.0)]
    draw.polygon(
        [(base_x + px * cos - py * sin, base_y - (px * sin + py * cos)) for px, py in corners],
        fill=CAR,
    )
    _caption(draw, text, width)
    return np.asarray(image)


def render_kind(env: Any, env_params: Any) -> str | None:
    """How `episode_frames` draws ``env``: a key of `FRAMES_PER_SECOND`, or None."""
    if getattr(env, "RUNS_ON_HOST", False):
        return None
    state = jax.eval_shape(env.reset, jax.random.key(0), env_params)[1]
    return _state_kind(state, env_params)


def _state_kind(state: Any, env_params: Any) -> str | None:
    if hasattr(state, "x") and hasattr(state, "theta"):
        return "cartpole"
    if hasattr(state, "position") and hasattr(env_params, "grid"):
        return "gridworld"
    if hasattr(state, "theta") and hasattr(state, "theta_dot"):
        return "pendulum"
    if hasattr(state, "joint_angle1") and hasattr(state, "joint_angle2"):
        return "acrobot"
    if hasattr(state, "position") and hasattr(env_params, "goal_position"):
        return "mountaincar"
    return None


def frame_stride(num_states: int, max_frames: int | None) -> int:
    """Draw every ``stride``-th state so that at most ``max_frames`` (plus the last) are drawn."""
    if max_frames is None:
        return 1
    if max_frames < 1:
        raise ValueError(f"max_frames must be >= 1; got {max_frames}")
    return max(1, math.ceil(num_states / max_frames))


def _frame_indices(num_states: int, stride: int) -> list[int]:
    indices = list(range(0, num_states, stride))
    if indices[-1] != num_states - 1:
        indices.append(num_states - 1)
    return indices


def episode_frames(
    env: Any, env_params: Any, episode: Episode, max_frames: int | None = None
) -> list[np.ndarray]:
    """Frames of the episode's states, captioned with time and return.

    Args:
        env: the environment (CartPole, GridWorld, Pendulum, Acrobot or MountainCar).
        env_params: its parameters.
        episode: an `Episode` of it.
        max_frames: draw every ``frame_stride(L + 1, max_frames)``-th state (and the last);
            None: all ``L + 1``.

    Returns:
        ``[H, W, 3]`` uint8 frames.

    Raises:
        ValueError: an environment that cannot be drawn.
    """
    states = episode.states
    kind = _state_kind(states, env_params)
    if kind is None:
        raise ValueError(
            f"cannot draw {getattr(env, 'name', type(env).__name__)}; rendering supports "
            f"{RENDERABLE}"
        )
    returns = np.concatenate([[0.0], np.cumsum(episode.rewards)])
    stride = frame_stride(episode.length + 1, max_frames)
    frames = []
    for t in _frame_indices(episode.length + 1, stride):
        caption = f"t={t}  return={returns[t]:g}"
        if kind == "cartpole":
            frames.append(
                cartpole_frame(
                    float(states.x[t]),
                    float(states.theta[t]),
                    float(getattr(env_params, "x_threshold", 2.4)),
                    float(getattr(env_params, "length", 0.5)),
                    text=caption,
                )
            )
        elif kind == "gridworld":
            if t < episode.length:
                action = int(episode.actions[t])
                caption += f"  next: {GRID_ACTION_NAMES[action]} ({action})"
            frames.append(gridworld_frame(env_params.grid, states.position[t], text=caption))
        elif kind == "pendulum":
            frames.append(pendulum_frame(float(states.theta[t]), text=caption))
        elif kind == "acrobot":
            frames.append(
                acrobot_frame(
                    float(states.joint_angle1[t]),
                    float(states.joint_angle2[t]),
                    float(env_params.link_length_1),
                    float(env_params.link_length_2),
                    text=caption,
                )
            )
        else:
            frames.append(
                mountain_car_frame(
                    float(states.position[t]),
                    float(env_params.min_position),
                    float(env_params.max_position),
                    float(env_params.goal_position),
                    text=caption,
                )
            )
    return frames


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
    """Whether ``env`` can be drawn: a state `episode_frames` draws, or a gymnasium environment
    (on the host) with an ``rgb_array`` render mode."""
    if getattr(env, "RUNS_ON_HOST", False):
        return _host_renders(env)
    return render_kind(env, env_params) is not None


class HostRecording(NamedTuple):
    """One episode of a gymnasium environment on the host, drawn by gymnasium.

    Attributes:
        frames: ``[H, W, 3]`` uint8 frames: the initial state, every ``stride``-th one after
            it, and the last (the real final state).
        episode_return: the undiscounted return.
        length: steps until termination, truncation or the horizon.
        stride: steps between frames.
        fps: frames per second of real time (gymnasium's ``render_fps``, else 30).
    """

    frames: list[np.ndarray]
    episode_return: float
    length: int
    stride: int
    fps: float


class _RecordingEnv:
    """``env`` for `jaxpg.host_train.play_host_episodes`: its vector environment is drawn in
    ``rgb_array`` mode after the reset, every ``stride``-th step and the episode's last step."""

    def __init__(self, env: Any, stride: int, horizon: int, width: int) -> None:
        self.env, self.stride, self.horizon, self.width = env, stride, horizon, width
        self.frames: list[np.ndarray] = []
        self.steps = 0
        self.fps = 30.0

    def host_observation(self, obs: Any) -> np.ndarray:
        return self.env.host_observation(obs)

    def host_action(self, action: np.ndarray) -> np.ndarray:
        return self.env.host_action(action)

    def make_vector_env(self, num_envs: int) -> _RecordingEnv:
        import gymnasium

        def make_one() -> Any:
            options = {**self.env.make_kwargs, "render_mode": "rgb_array"}
            return gymnasium.make(self.env.env_id, **options)

        # Reset on the step after the end, which never comes: the last frame is the real one.
        self.vector_env = gymnasium.vector.SyncVectorEnv(
            [make_one] * num_envs, autoreset_mode=gymnasium.vector.AutoresetMode.NEXT_STEP
        )
        self.fps = float(self.vector_env.envs[0].metadata.get("render_fps") or 30.0)
        return self

    def reset(self, **kwargs: Any) -> Any:
        result = self.vector_env.reset(**kwargs)
        self._record()
        return result

    def step(self, action: np.ndarray) -> Any:
        result = self.vector_env.step(action)
        self.steps += 1
        ended = bool(np.all(result[2] | result[3]))
        if ended or self.steps % self.stride == 0 or self.steps == self.horizon:
            self._record()
        return result

    def close(self) -> None:
        self.vector_env.close()

    def _record(self) -> None:
        image = Image.fromarray(np.asarray(self.vector_env.render()[0], np.uint8))
        if image.width > self.width:
            height = round(image.height * self.width / image.width)
            image = image.resize((self.width, height), Image.Resampling.BILINEAR)
        self.frames.append(np.asarray(image.convert("RGB")))


def play_host_episode_frames(
    env: Any,
    policy_apply: Callable[[Any, jax.Array], Any],
    policy_params: Any,
    key: jax.Array,
    greedy: bool = False,
    max_frames: int = MAX_FRAMES,
    width: int = 480,
    max_steps: int | None = None,
) -> HostRecording:
    """Plays one episode of a gymnasium environment and keeps gymnasium's ``rgb_array`` frames.

    The episode is `jaxpg.host_train.play_host_episodes`'s (one environment copy, created with
    ``render_mode="rgb_array"``).

    Args:
        env: a `jaxpg.envs.gymnasium_bridge.GymnasiumEnv` whose environment has an
            ``rgb_array`` render mode (`can_render`).
        policy_apply: ``policy.apply`` of a `jaxpg.networks.Policy`.
        policy_params: the policy's parameters.
        key: a PRNG key (actions and the environment's seed).
        greedy: take the most probable action instead of sampling.
        max_frames: at most this many frames (plus the last): states are subsampled evenly.
        width: wider frames are scaled down to this width.
        max_steps: step limit; default the environment's time limit.

    Returns:
        A `HostRecording`.
    """
    from jaxpg.host_train import play_host_episodes

    horizon = max_steps or env.default_params.max_steps_in_episode
    if horizon is None:
        raise ValueError(f"{env.name} has no time limit; pass max_steps")
    stride = frame_stride(int(horizon) + 1, max_frames)
    policy_fn = rollout_lib.sample_policy(policy_apply, policy_params, greedy=greedy)

    @jax.jit
    def act(key: jax.Array, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        key, action_key = jax.random.split(key)
        return key, policy_fn(action_key, obs)[0]

    recorder = _RecordingEnv(env, stride, int(horizon), width)
    returns = play_host_episodes(recorder, act, key, 1, int(horizon))
    return HostRecording(recorder.frames, float(returns[0]), recorder.steps, stride, recorder.fps)


def _host_renders(env: Any) -> bool:
    import gymnasium

    probe = gymnasium.make(env.env_id, **env.make_kwargs)
    try:
        return "rgb_array" in (probe.metadata.get("render_modes") or ())
    finally:
        probe.close()


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

"""``jaxpg list``: the algorithms, environments and presets the train command accepts.

Imports no jax: the config classes are named from `jaxpg.cli.fields`, jaxpg's environment ids
come from `jaxpg.envs.registry` (which loads an environment only when it is made), gymnax's
are read from its source (importing gymnax imports jax, seconds on a small machine), and the
optional extras are looked up with `importlib.util.find_spec`, without importing them.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import os
import sys
import textwrap
from collections.abc import Sequence

#: One line per CLI algorithm name (`jaxpg.cli.options.ALGORITHM_NAMES`).
DESCRIPTIONS = {
    "vpg": "vanilla policy gradient (REINFORCE, Williams 1992); reward-to-go or whole-return "
    "weighting, optional value baseline",
    "maxent": "maximum-entropy policy gradient (seed 001, Levine 2018): VPG with rewards "
    "r - alpha log pi and decaying epsilon-random exploration",
    "a2c": "advantage actor-critic with GAE(gamma, lambda) (Mnih et al. 2016, Schulman et al. "
    "2016)",
    "trpo": "trust region policy optimisation (Schulman et al. 2015): conjugate gradient on "
    "Fisher-vector products, KL line search; single-path or vine sampling",
    "npg": "natural policy gradient (Kakade 2002): TRPO's step without the line search",
    "ppo": "proximal policy optimisation with a clipped surrogate (Schulman et al. 2017)",
}

#: Brax's built-in environments (``swimmer`` fails in Brax 0.14.2 with current JAX; see
#: `jaxpg.envs.brax`), named here so that listing them does not import Brax.
BRAX_ENVS = (
    "ant",
    "halfcheetah",
    "hopper",
    "humanoid",
    "humanoidstandup",
    "inverted_pendulum",
    "inverted_double_pendulum",
    "pusher",
    "reacher",
    "walker2d",
)

#: Examples of MuJoCo Playground's dm_control-suite tasks, which work offline.
PLAYGROUND_EXAMPLES = ("CheetahRun", "WalkerWalk", "HopperHop", "CartpoleBalance", "ReacherEasy")

SECTIONS = ("algorithms", "envs", "presets")

_WIDTH = 100


def gymnax_env_ids() -> list[str]:
    """gymnax's registered ids, read from ``gymnax/registration.py`` without importing gymnax
    (imported instead when it already is, or when its source has no literal list of ids)."""
    if "gymnax" not in sys.modules:
        spec = importlib.util.find_spec("gymnax")
        if spec is None:
            return []
        for folder in spec.submodule_search_locations or ():
            ids = _literal_ids(os.path.join(folder, "registration.py"))
            if ids:
                return ids
    import gymnax

    return list(gymnax.registered_envs)


def _literal_ids(path: str) -> list[str]:
    """The literal list of strings assigned to ``_BUILTIN_ENV_IDS`` or ``registered_envs``."""
    try:
        with open(path, encoding="utf-8") as file:
            tree = ast.parse(file.read())
    except (OSError, SyntaxError):
        return []
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, expression = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, expression = [node.target], node.value
        else:
            continue
        names = {target.id for target in targets if isinstance(target, ast.Name)}
        if not names & {"_BUILTIN_ENV_IDS", "registered_envs"}:
            continue
        try:
            value = ast.literal_eval(expression)
        except ValueError:
            continue
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return value
    return []


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _wrapped(text: str, indent: str, hanging: str | None = None) -> str:
    return textwrap.fill(
        text,
        _WIDTH,
        initial_indent=indent,
        subsequent_indent=indent if hanging is None else hanging,
        break_on_hyphens=False,
    )


def _extra(name: str, module: str) -> str:
    if _installed(module):
        return f"(the [{name}] extra, installed)"
    return f'(needs the [{name}] extra, not installed: pip install -e ".[{name}]")'


def format_algorithms() -> str:
    """The algorithms section: CLI name, config class and one line each."""
    from jaxpg.cli.fields import CONFIG_CLASSES
    from jaxpg.cli.options import ALGORITHM_NAMES

    lines = ["Algorithms (jaxpg train ALGO; --set FIELD=VALUE sets a field of its config):"]
    for name in ALGORITHM_NAMES:
        line = f"  {name:<7} {CONFIG_CLASSES[name][0]:<18} {DESCRIPTIONS.get(name, '')}"
        lines.append(_wrapped(line.rstrip(), "", " " * 29))
    return "\n".join(lines)


def format_envs() -> str:
    """The environments section: jaxpg's ids, gymnax's, and the prefixed families."""
    from jaxpg.envs.registry import registered_envs

    own = registered_envs()
    gymnax_ids = [env_id for env_id in gymnax_env_ids() if env_id not in own]
    blocks = [
        "Environments (jaxpg train ALGO --env ID; --env-set NAME=VALUE sets an option):",
        "  jaxpg:",
        _wrapped(", ".join(own), "    "),
        "  gymnax (JAX):",
        _wrapped(", ".join(gymnax_ids), "    "),
        "  gymnasium:<id>  any registered gymnasium id, e.g. gymnasium:LunarLander-v3 "
        "(rollouts on the host)",
        f"  brax:<name>  Brax {_extra('brax', 'brax')}:",
        _wrapped(", ".join(BRAX_ENVS), "    "),
        _wrapped(
            f"playground:<Name>  MuJoCo Playground {_extra('playground', 'mujoco_playground')}:",
            "  ",
            "    ",
        ),
        _wrapped("dm_control-suite tasks, e.g. " + ", ".join(PLAYGROUND_EXAMPLES), "    "),
    ]
    return "\n".join(blocks)


def format_presets() -> str:
    """The presets section: per source, the algorithms and environments it covers."""
    from jaxpg import presets

    by_source: dict[str, dict[str, list[str]]] = {}
    for algorithm, env_id in presets.available():
        source = presets.get(algorithm, env_id).source
        by_source.setdefault(source, {}).setdefault(algorithm, []).append(env_id)
    lines = ["Presets (tuned settings jaxpg train applies; --set and --env-set override):"]
    for source, envs in by_source.items():
        lines.append(_wrapped(f"from {source}:", "  ", "    "))
        for algorithm, env_ids in envs.items():
            lines.append(_wrapped(f"{algorithm}: {', '.join(env_ids)}", "    ", "      "))
    return "\n".join(lines)


def format_listing(sections: Sequence[str] = SECTIONS) -> str:
    """What ``jaxpg list`` prints: the given `SECTIONS`, blank-line separated."""
    formatters = {"algorithms": format_algorithms, "envs": format_envs, "presets": format_presets}
    return "\n\n".join(formatters[section]() for section in sections)


def list_command(args: argparse.Namespace) -> int:
    """``jaxpg list [SECTION]``: prints the listing; returns 0."""
    print(format_listing([args.section] if args.section else SECTIONS))
    return 0

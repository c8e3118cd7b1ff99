"""The config fields of the CLI's algorithms, read without importing jax.

The config classes are flax dataclasses: importing them imports jax (about 2-3 s), which an
argument error (an unknown algorithm, a misspelt ``--set`` field) should not wait for. This
module reads the class definitions from the source files with `ast` instead: a class's fields
are its annotated class attributes after those of its bases, as `dataclasses` orders them.
``tests/test_cli_fast.py`` checks the result against `dataclasses.fields` of the real classes.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

#: CLI algorithm name to (config class name, module defining it): what
#: `jaxpg.presets.algorithms` maps to the classes themselves.
CONFIG_CLASSES = {
    "vpg": ("VPGConfig", "jaxpg.algorithms.vpg"),
    "maxent": ("VPGConfig", "jaxpg.algorithms.vpg"),
    "a2c": ("ActorCriticConfig", "jaxpg.algorithms.actor_critic"),
    "trpo": ("TRPOConfig", "jaxpg.algorithms.trpo"),
    "npg": ("TRPOConfig", "jaxpg.algorithms.trpo"),
    "ppo": ("PPOConfig", "jaxpg.algorithms.ppo"),
}

_BASE_MODULE = "jaxpg.config"

_PACKAGE_DIR = Path(__file__).resolve().parents[1]  # jaxpg/


def _module_path(module: str) -> Path:
    # Not importlib.util.find_spec: it imports the parent packages, and jaxpg.algorithms
    # imports jax.
    _, *parts = module.split(".")
    return _PACKAGE_DIR.joinpath(*parts).with_suffix(".py")


@functools.cache
def _classes(module: str) -> dict[str, ast.ClassDef]:
    tree = ast.parse(_module_path(module).read_text(encoding="utf-8"))
    return {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}


def _fields_of(name: str, module: str) -> list[str]:
    classes = _classes(module)
    if name not in classes:
        classes, module = _classes(_BASE_MODULE), _BASE_MODULE
    node = classes[name]
    names: list[str] = []
    for base in node.bases:
        if isinstance(base, ast.Name):
            names += [n for n in _fields_of(base.id, module) if n not in names]
    for statement in node.body:
        if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
            annotation = ast.unparse(statement.annotation)
            if "ClassVar" not in annotation and statement.target.id not in names:
                names.append(statement.target.id)
    return names


@functools.cache
def config_fields(algorithm: str) -> tuple[str, ...]:
    """The field names of ``algorithm``'s config class (a CLI name, see `CONFIG_CLASSES`)."""
    name, module = CONFIG_CLASSES[algorithm]
    return tuple(_fields_of(name, module))

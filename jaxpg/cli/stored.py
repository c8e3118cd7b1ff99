"""The CLI's programs kept on disk as traced, so that a repeated command neither traces nor
lowers them.

JAX's persistent compilation cache (`jaxpg.cli.programs.enable_compilation_cache`) skips XLA's
compilation on a repeated command, but JAX finds a cached program by its lowered text: the
program is still traced and lowered first, seconds for TRPO's training chunk on a small machine.
This module keeps every program of a run as `jax.export` serialises it (StableHLO bytecode in a
flatbuffer; no pickle) beside that cache, in ``jaxpg-programs/``, under a name that hashes all
that the program depends on: its key (`jaxpg.cli.programs.program_identity`: the config, the
environment and its options, the sizes), the source of every jaxpg module, the versions of the
libraries that build programs, JAX's settings, the backend and the compiler options. A command
that finds its file loads it in milliseconds and compiles it, through the persistent cache, from
the same text as the command that wrote it. Any change to any of those inputs misses: the
program is traced again and stored under its new name.

A stored program takes and returns flat lists of arrays; the structure of its arguments and
results is stored beside it, each node by its type's import path and its JSON-encodable
auxiliary data (`encode_tree`). Programs whose structure or contents cannot be stored that way
(a node with other auxiliary data, a host callback) are traced on every run, as before.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
import os
import struct
import sys
import tempfile
from collections.abc import Callable
from typing import Any

#: Bumped when the file layout or the fingerprint changes: old files are then never read.
FORMAT = 1
#: The most programs kept: saving one more removes the least recently used (every change to
#: jaxpg's source or a config stores new ones; a TRPO program is about 100 kB).
MAX_PROGRAMS = 400
#: The folder, inside the persistent compilation cache's, that holds the programs.
FOLDER = "jaxpg-programs"
_MAGIC = b"jaxpg-program\n"
#: Libraries whose code ends up in the programs (absent ones are skipped).
_LIBRARIES = (
    "jax",
    "jaxlib",
    "flax",
    "optax",
    "chex",
    "gymnax",
    "numpy",
    "ml_dtypes",
    "brax",
    "mujoco",
    "mujoco-mjx",
    "playground",
    "mujoco-playground",
    "flatbuffers",
)


class Unstorable(Exception):
    """A program (or its argument structure) that this module cannot store."""


def store_directory() -> str | None:
    """Where programs are stored: ``jaxpg-programs`` in JAX's persistent compilation cache
    directory, or None when that cache is off."""
    import jax

    cache = jax.config.jax_compilation_cache_dir
    return os.path.join(cache, FOLDER) if cache else None


def lower(key: tuple, build: Callable[[], tuple[Callable, tuple]], options: dict) -> Any:
    """The lowered program of ``key``: loaded from the store when there, else traced by
    ``build`` and stored. ``.compile()`` of the result gives a callable that takes and returns
    the same pytrees as the traced function.

    Args:
        key: what identifies the program among a run's (hashable, with a deterministic repr).
        build: ``() -> (function, args)``, the un-jitted function and its arguments as
            `jax.ShapeDtypeStruct` pytrees; called only when the program must be traced.
        options: the XLA compiler options.
    """
    import jax

    directory = store_directory()
    if directory is not None:
        path = os.path.join(directory, program_name(key, options))
        stored = load(path)
        if stored is not None:
            try:
                return stored.lower(options)
            except Exception:  # a file JAX cannot read after all: traced again, replaced
                pass
    function, args = build()
    if directory is not None:
        try:
            stored = export(function, args)
        except Unstorable:
            pass
        else:
            save(path, stored)
            return stored.lower(options)
    return jax.jit(function, compiler_options=options).lower(*args)


def program_name(key: tuple, options: dict) -> str:
    """The file name of ``key``'s program: a hash of the key and of everything else the
    program depends on (`_fingerprint`)."""
    digest = hashlib.sha256()
    for part in (_fingerprint(), repr(key), json.dumps(options, sort_keys=True, default=repr)):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:40] + ".program"


@functools.cache
def _fingerprint() -> str:
    """What every program of this process depends on besides its key: jaxpg's source, the
    libraries' versions, JAX's settings and the devices."""
    import importlib.metadata

    import jax

    digest = hashlib.sha256(f"format {FORMAT}, python {sys.version}".encode())
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for folder, _, files in sorted(os.walk(package)):  # sorted: the same order everywhere
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                digest.update(os.path.relpath(path, package).encode())
                with open(path, "rb") as file:
                    digest.update(hashlib.sha256(file.read()).digest())
    for library in _LIBRARIES:
        try:
            version = importlib.metadata.version(library)
        except importlib.metadata.PackageNotFoundError:
            version = "absent"
        digest.update(f"{library} {version}\n".encode())
    settings = sorted((name, repr(value)) for name, value in jax.config.values.items())
    digest.update(repr(settings).encode())
    devices = [(device.platform, device.device_kind) for device in jax.devices()]
    digest.update(repr(devices).encode())
    return digest.hexdigest()


class StoredProgram:
    """A program as stored: `jax.export`'s serialised form and its pytree structures."""

    def __init__(self, exported: bytes, in_tree: Any, out_tree: Any) -> None:
        self.exported, self.in_tree, self.out_tree = exported, in_tree, out_tree

    def lower(self, options: dict) -> StoredLowering:
        import jax

        exported = jax.export.deserialize(bytearray(self.exported))
        args = [jax.ShapeDtypeStruct(aval.shape, aval.dtype) for aval in exported.in_avals]

        def call(*args: Any) -> Any:
            return exported.call(*args)

        call.__name__ = call.__qualname__ = exported.fun_name  # the traced function's name
        lowered = jax.jit(call, compiler_options=options).lower(*args)
        return StoredLowering(lowered, self.in_tree, self.out_tree)


class StoredLowering:
    """A lowered stored program; `compile` returns it callable with pytrees."""

    def __init__(self, lowered: Any, in_tree: Any, out_tree: Any) -> None:
        self.lowered, self.in_tree, self.out_tree = lowered, in_tree, out_tree

    def compile(self) -> Callable[..., Any]:
        compiled = self.lowered.compile()
        in_tree, out_tree = self.in_tree, self.out_tree

        def program(*args: Any) -> Any:
            import jax

            leaves, tree = jax.tree.flatten(args)
            if tree != in_tree:
                raise ValueError(f"a stored program takes {in_tree}, got {tree}")
            return out_tree.unflatten(compiled(*leaves))

        return program


def export(function: Callable, args: tuple) -> StoredProgram:
    """``function`` traced at ``args`` and serialised by `jax.export`.

    Raises:
        Unstorable: tracing or `jax.export` failed (the caller traces the function again
            without exporting it, which raises the function's own errors), or its structure
            is not encodable.
    """
    import jax

    leaves, in_tree = jax.tree.flatten(args)
    out_trees = []

    def flat(*leaves: Any) -> list[Any]:
        out_leaves, out_tree = jax.tree.flatten(function(*in_tree.unflatten(leaves)))
        out_trees.append(out_tree)
        return out_leaves

    # JAX names the program (and its persistent cache entry) after the function.
    flat.__name__ = flat.__qualname__ = getattr(function, "__name__", "program")
    try:
        exported = jax.export.export(jax.jit(flat))(*leaves)
        blob = bytes(exported.serialize())
    except Exception as error:  # the caller traces it again: its own errors are raised then
        raise Unstorable(f"{type(error).__name__}: {error}") from error
    encode_tree(in_tree)
    encode_tree(out_trees[-1])
    return StoredProgram(blob, in_tree, out_trees[-1])


def save(path: str, program: StoredProgram) -> None:
    """Writes ``program`` to ``path`` atomically, then removes the least recently used
    programs beyond `MAX_PROGRAMS`; a folder that cannot be written is skipped (the program is
    traced again next time)."""
    header = json.dumps(
        {
            "format": FORMAT,
            "sha256": hashlib.sha256(program.exported).hexdigest(),
            "in_tree": encode_tree(program.in_tree),
            "out_tree": encode_tree(program.out_tree),
        }
    ).encode()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".partial")
        with os.fdopen(handle, "wb") as file:
            file.write(_MAGIC + struct.pack("<Q", len(header)) + header + program.exported)
        os.replace(temporary, path)
    except OSError:
        return
    _prune(os.path.dirname(path))


def _prune(directory: str) -> None:
    """Removes the least recently used programs (`load` refreshes a file's time) beyond
    `MAX_PROGRAMS`."""
    try:
        with os.scandir(directory) as entries:
            programs = [
                (entry.stat().st_mtime, entry.path)
                for entry in entries
                if entry.name.endswith(".program")
            ]
        for _, path in sorted(programs)[: max(0, len(programs) - MAX_PROGRAMS)]:
            os.remove(path)
    except OSError:  # another process pruned or wrote meanwhile: next time
        pass


def load(path: str) -> StoredProgram | None:
    """The program stored at ``path``, or None when absent, unreadable, damaged (its
    checksum) or from another format: the program is then traced again and its file
    replaced."""
    try:
        with open(path, "rb") as file:
            data = file.read()
        if not data.startswith(_MAGIC):
            return None
        start = len(_MAGIC) + 8
        (size,) = struct.unpack("<Q", data[len(_MAGIC) : start])
        header = json.loads(data[start : start + size])
        if header.get("format") != FORMAT:
            return None
        exported = data[start + size :]
        if hashlib.sha256(exported).hexdigest() != header["sha256"]:
            return None  # damaged, or cut short by a full disk
        in_tree, out_tree = decode_tree(header["in_tree"]), decode_tree(header["out_tree"])
        os.utime(path)  # recently used: kept by `_prune`
        return StoredProgram(exported, in_tree, out_tree)
    except (OSError, ValueError, KeyError, struct.error, Unstorable):
        return None


def encode_tree(treedef: Any) -> Any:
    """A JSON-encodable form of a pytree structure: ``"*"`` for a leaf, else ``[type path,
    auxiliary data, children]``.

    Raises:
        Unstorable: a node type that cannot be imported by its path (defined in a function)
            or auxiliary data other than None, booleans, numbers, strings and their lists and
            tuples.
    """
    node = treedef.node_data()
    if node is None:
        return "*"
    node_type, aux = node
    path = f"{node_type.__module__}:{node_type.__qualname__}"
    if "<" in path:
        raise Unstorable(f"{path} cannot be imported by its name")
    return [path, _encode_aux(aux), [encode_tree(child) for child in treedef.children()]]


def decode_tree(encoded: Any) -> Any:
    """The pytree structure `encode_tree` encoded."""
    import jax

    if encoded == "*":
        return jax.tree.structure(0)
    path, aux, children = encoded
    module, _, qualname = path.partition(":")
    if path == "builtins:NoneType":
        node_type: Any = type(None)
    else:
        try:
            node_type = importlib.import_module(module)
            for part in qualname.split("."):
                node_type = getattr(node_type, part)
        except (ImportError, AttributeError) as error:
            raise Unstorable(f"{path}: {error}") from error
    return jax.tree_util.PyTreeDef.from_node_data_and_children(
        jax.tree_util.default_registry,
        (node_type, _decode_aux(aux)),
        [decode_tree(child) for child in children],
    )


def _encode_aux(aux: Any) -> Any:
    if aux is None or isinstance(aux, (bool, int, float, str)):
        return aux
    if type(aux) in (tuple, list):
        return {type(aux).__name__: [_encode_aux(item) for item in aux]}
    raise Unstorable(f"pytree auxiliary data {aux!r} is not encodable")


def _decode_aux(encoded: Any) -> Any:
    if isinstance(encoded, dict):
        ((kind, items),) = encoded.items()
        return {"tuple": tuple, "list": list}[kind](_decode_aux(item) for item in items)
    return encoded

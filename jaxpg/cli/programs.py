"""The compiled programs of a JAX run (`jaxpg.cli.runners.JaxRunner`): the chunk runner
(vmapped over seeds, or over grid points x seeds in a sweep) and the evaluation; the cache
that compiles them in parallel, once per process; waits that Ctrl-C interrupts at once."""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import json
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from jaxpg.cli.options import EXIT_INTERRUPTED, run_keys


def make_chunk_runner(trainer: Any, chunk_size: int) -> Any:
    """``run_chunk(states, first_iteration, last_iteration, num_iterations) -> (states,
    metrics)``, vmapped over seeds.

    ``states`` is a `TrainState` batched over seeds; ``num_iterations`` (a traced int32 scalar,
    shared by the seeds, at most ``chunk_size``) iterations run and the rest of the
    ``chunk_size``-long scan is skipped by `lax.cond`, so one compiled program serves every
    chunk. ``first_iteration`` (int32, shared): the iterations done before the chunk, which
    place it in the evaluation schedule (``config.eval_every``); ``last_iteration``: the run's
    last iteration, evaluated as well (an input, so that a resume with a new total reuses the
    program). ``metrics`` leaves are
    ``[num_seeds, chunk_size]``; entries past ``num_iterations`` are zeros.
    """
    import jax

    def run_chunk(state, first_iteration, last_iteration, num_iterations):
        return _run_chunk(
            trainer, chunk_size, state, first_iteration, last_iteration, num_iterations
        )

    return jax.vmap(run_chunk, in_axes=(0, None, None, None))


def make_sweep_chunk_runner(config: Any, env: Any, env_params: Any, chunk_size: int) -> Any:
    """``sweep_chunk(states, values, num_iterations) -> (states, metrics)``, vmapped over
    grid points x seeds flattened to one leading axis of size ``M``.

    ``values`` maps traced config fields to ``[M]`` arrays: each member trains with
    ``dataclasses.replace(config, **its values)``, so one compiled program serves every grid
    point (and every chunk, as in `make_chunk_runner`). ``metrics`` leaves are
    ``[M, chunk_size]``.
    """
    import jax

    from jaxpg.train import make_trainer

    def sweep_chunk(state, values, first_iteration, last_iteration, num_iterations):
        trainer = make_trainer(dataclasses.replace(config, **values), env, env_params)
        return _run_chunk(
            trainer, chunk_size, state, first_iteration, last_iteration, num_iterations
        )

    return jax.vmap(sweep_chunk, in_axes=(0, 0, None, None, None))


def _run_chunk(
    trainer: Any,
    chunk_size: int,
    state: Any,
    first_iteration: Any,
    last_iteration: Any,
    num_iterations: Any,
) -> Any:
    """One member's chunk: ``num_iterations`` of a ``chunk_size``-long scan, the rest skipped."""
    import jax
    import jax.extend.core
    import jax.numpy as jnp

    def one_iteration(state, index):
        state, metrics = trainer.run(state, 1, first_iteration + index, last_iteration)
        return state, jax.tree.map(lambda metric: metric[0], metrics)

    # Traced once: `lax.cond` replays the jaxpr (a few high-level equations) instead of
    # running the trainer's Python a second time, as it would after `jax.eval_shape`.
    index = jax.ShapeDtypeStruct((), jnp.int32)
    closed, (state_shapes, metric_shapes) = jax.make_jaxpr(one_iteration, return_shape=True)(
        state, index
    )
    _, out_tree = jax.tree.flatten((state_shapes, metric_shapes))
    replay = jax.extend.core.jaxpr_as_fun(closed)

    def run_iteration(state, index):
        return jax.tree.unflatten(out_tree, replay(*jax.tree.leaves((state, index))))

    def skip(state, index):
        return state, jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), metric_shapes)

    def body(state, index):
        return jax.lax.cond(index < num_iterations, run_iteration, skip, state, index)

    return jax.lax.scan(body, state, jnp.arange(chunk_size))


#: Compiled programs of this process, by what fixes them (config, env, sizes), so repeated
#: `main` calls in one process (a resume right after a run, tests) neither trace nor compile
#: again. Across processes, JAX's persistent compilation cache (`enable_compilation_cache`)
#: skips the compilation, not the tracing.
_PROGRAM_CACHE: collections.OrderedDict[tuple, Any] = collections.OrderedDict()


_PROGRAM_CACHE_SIZE = 16


def cached_compile(
    lowerings: dict[str, tuple[tuple, Any]], background: Sequence[str] = ()
) -> tuple[dict[str, Any], list[str]]:
    """Programs by name from ``{name: (key, lower)}``, with the names compiled now.

    ``key`` identifies a program by its inputs; ``lower()`` traces it (or loads it,
    `jaxpg.cli.stored`). Programs missing from the cache are lowered and compiled in parallel
    threads (`Compilation`). Those named in ``background`` are traced while the others
    compile (XLA leaves the interpreter free), start compiling once the others are done (not
    to compete with them for the cores) and are not waited for: they are left out of the
    programs returned and compile while the caller goes on (the evaluation program while
    training runs); a later call that asks for them waits.
    """
    programs = {}
    for name, (key, _) in lowerings.items():
        if key in _PROGRAM_CACHE:
            program = _PROGRAM_CACHE[key]
            if isinstance(program, Compilation) and name not in background:
                program = _PROGRAM_CACHE[key] = program.result()
            programs[name] = program
    missing = [name for name in lowerings if name not in programs]
    compilations = {}
    for name in missing:
        if name not in background:
            raise_if_interrupted()  # tracing can take seconds: stop between programs
            compilations[name] = Compilation(name, lowerings[name][1]())
    later = {}
    try:
        for name in missing:
            if name in background:
                raise_if_interrupted()
                later[name] = lowerings[name][1]()
        for name, compilation in compilations.items():
            programs[name] = _PROGRAM_CACHE[lowerings[name][0]] = compilation.result()
    except KeyboardInterrupt:
        _ABANDONED.extend(compilation.thread for compilation in compilations.values())
        raise
    for name, program in later.items():
        _PROGRAM_CACHE[lowerings[name][0]] = Compilation(name, program)
    for key, _ in lowerings.values():
        _PROGRAM_CACHE.move_to_end(key)
    while len(_PROGRAM_CACHE) > _PROGRAM_CACHE_SIZE:
        _PROGRAM_CACHE.popitem(last=False)
    return {name: programs[name] for name in programs if name not in background}, missing


class Compilation:
    """A lowered program compiling in a daemon thread (XLA releases the GIL while it
    compiles), so several compile in parallel and the caller may go on meanwhile.

    `result` waits in short joins, so Ctrl-C stops the wait at once (a blocking wait would
    hold it until XLA finishes, tens of seconds for a large program); an abandoned
    compilation does not keep the process alive at exit (`exit_if_abandoned`).
    """

    def __init__(self, name: str, lowered: Any) -> None:
        self._program: Any = None
        self._error: BaseException | None = None
        self.thread = threading.Thread(
            target=self._compile, args=(lowered,), daemon=True, name=f"compile {name}"
        )
        self.thread.start()

    def _compile(self, lowered: Any) -> None:
        try:
            self._program = lowered.compile()
        except BaseException as error:  # raised again by `result`, in the main thread
            self._error = error

    def result(self) -> Any:
        """The compiled program, once XLA is done.

        Raises:
            KeyboardInterrupt: Ctrl-C while waiting (the compilation is abandoned).
        """
        try:
            while self.thread.is_alive():
                raise_if_interrupted()
                self.thread.join(0.05)
            raise_if_interrupted()
        except KeyboardInterrupt:
            _ABANDONED.append(self.thread)
            raise
        if self._error is not None:
            raise self._error
        return self._program


#: Compilations left running after Ctrl-C: see `exit_if_abandoned`.
_ABANDONED: list[threading.Thread] = []
#: Arrays a Ctrl-C stopped `wait` from waiting for (a program may still be computing them).
_PENDING: list[Any] = []
#: Set by the CLI's SIGINT handler, cleared once the interrupt has been handled.
_INTERRUPT = threading.Event()


@contextlib.contextmanager
def interrupt_handler() -> Iterator[None]:
    """Ctrl-C for the command's duration: a SIGINT raises KeyboardInterrupt as usual and is
    also recorded, and the waits of this module (`Compilation.result`, `wait`) raise it again while
    it is recorded. Python runs a signal handler in whatever Python code the main thread is
    in, and an exception raised in a garbage-collection callback (JAX registers one) is
    printed and dropped: the record makes sure the interrupt still stops the command.
    Nothing changes when SIGINT is ignored or handled by someone else, or off the main thread.
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return

    def on_sigint(signum: int, frame: Any) -> None:
        _INTERRUPT.set()
        raise KeyboardInterrupt

    _INTERRUPT.clear()
    signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        _INTERRUPT.clear()


def raise_if_interrupted() -> None:
    """Raises KeyboardInterrupt if a Ctrl-C was recorded and not yet handled."""
    if _INTERRUPT.is_set():
        raise KeyboardInterrupt


def interrupt_handled() -> None:
    """Forgets the recorded Ctrl-C: the command has acted on it."""
    _INTERRUPT.clear()


def exit_if_abandoned(status: int) -> None:
    """Ends the process at once with ``status`` if Ctrl-C left a compilation or a computation
    running (or a compilation that was going on in the background, `cached_compile`, when
    ``status`` is the interrupted one; otherwise that compilation is waited for).

    Python would otherwise finalise around a thread that is inside XLA, which may crash
    ("terminate called ...") or wait for the compilation or computation to end.
    """
    import os
    import sys

    pending = any(not leaf.is_deleted() and not leaf.is_ready() for leaf in _PENDING)
    # Any abandoned compilation, even one that looks finished: a thread that is returning
    # from XLA as Python finalises is killed inside C++ code, which aborts the process.
    running = [  # programs compiling in the background (`cached_compile`)
        program.thread
        for program in _PROGRAM_CACHE.values()
        if isinstance(program, Compilation) and program.thread.is_alive()
    ]
    if not (pending or _ABANDONED) and status != EXIT_INTERRUPTED:
        for thread in running:  # seconds at most
            thread.join()
        running = []
    if pending or _ABANDONED or running:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


def wait(tree: Any) -> Any:
    """Blocks until every array of ``tree`` is computed and returns ``tree``; Ctrl-C stops the
    wait within 50 ms while a long program runs (`jax.block_until_ready` on the main thread
    would hold it until the program ends).

    A helper thread blocks on the arrays and sets an event the main thread waits on in short
    timeouts: the wait ends as soon as the program does (sleeping in growing steps instead
    cost up to 50 ms per chunk, 0.8 s of a 2.4 s default run).
    """
    import jax

    leaves = [
        jax.random.key_data(leaf)
        if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key)
        else leaf
        for leaf in jax.tree.leaves(tree)
        if isinstance(leaf, jax.Array)
    ]
    done = threading.Event()

    def block() -> None:
        try:
            jax.block_until_ready(leaves)
        except BaseException:  # the main thread sees the error when it uses the arrays
            pass
        finally:
            done.set()

    threading.Thread(target=block, daemon=True, name="wait").start()
    try:
        while not done.wait(0.05):
            raise_if_interrupted()
        raise_if_interrupted()
    except KeyboardInterrupt:
        _PENDING.extend(leaves)
        raise
    return tree


def program_identity(
    config: Any, env_id: str, env_kwargs: dict[str, Any], num_members: int, compile_mode: str
) -> tuple:
    """What fixes a run's programs besides their own sizes: the cache key's common part."""
    return (
        type(config).__name__,
        config,
        env_id,
        json.dumps(env_kwargs, sort_keys=True),
        num_members,
        compile_mode,
    )


def compiler_options(mode: str) -> dict[str, Any]:
    """The XLA options of ``--compile`` ``fast`` or ``optimized``."""
    from jaxpg.train import COMPILER_OPTIONS, FAST_COMPILE_OPTIONS

    return {"fast": FAST_COMPILE_OPTIONS, "optimized": COMPILER_OPTIONS}[mode]


def evaluation_size(config: Any) -> int:
    """Episodes per member in one call of a run's evaluation program: ``2 * eval_episodes``
    (the sampled and the greedy half of an evaluation during training)."""
    return 2 * config.eval_episodes


def evaluation_lowering(
    identity: tuple,
    num_members: int,
    config: Any,
    env: Any,
    env_params: Any,
    policy: Any,
    states: Callable[[], Any],
    options: dict[str, Any],
) -> tuple[tuple, Any]:
    """A JAX run's one evaluation program: the evaluations during training, the evaluation
    after it and ``jaxpg eval`` all call it, so a run compiles one evaluation, not two.

    ``program(params [M, ...], keys [M], eval_seeds int32 [M], final, greedy, batch) ->
    (returns [M, evaluation_size(config)], metrics)``: each member's ``policy`` plays
    ``evaluation_size(config)`` episodes in one rollout (`jaxpg.evaluation.episode_returns`);
    ``metrics``: the `jaxpg.evaluation.EVAL_METRICS` ``[M]`` of its halves, as the trainer's
    in-program schedule computes them.
    ``final`` False: an evaluation during training, on ``evaluation_key(keys)`` (the carried
    keys of the states just trained, as in `jaxpg.train.make_trainer`'s schedule), the first
    half sampled, the second greedy. ``final`` True: batch ``batch`` of an evaluation of a
    trained run, on ``fold_in(run_keys(eval_seed).evaluate, batch)``, every episode greedy or
    every one sampled as ``greedy`` says. ``states()`` gives the run's states (or their
    shapes) when the program must be traced; their parameter dicts are applied whole
    (observation statistics frozen). ``options``: the XLA options (`compiler_options`).
    """
    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxpg import evaluation
    from jaxpg.cli import stored
    from jaxpg.train import batched_template

    size = evaluation_size(config)
    horizon = evaluation.episode_horizon(env, env_params)
    halves = np.arange(size) >= size // 2  # during training: the second half greedy

    def evaluate_member(params, carried_key, seed, final, greedy, batch):
        key = jax.lax.cond(
            final,
            lambda: jax.random.fold_in(run_keys(seed).evaluate, batch),
            lambda: evaluation.evaluation_key(carried_key),
        )
        mask = jnp.where(final, greedy, halves)
        returns = evaluation.episode_returns(
            env, env_params, policy, params, key, size, mask, horizon
        )
        half = size // 2
        return returns, evaluation.evaluation_metrics(returns[:half], returns[half:])

    def build():
        members = jax.ShapeDtypeStruct((num_members,), jnp.int32)
        flag = jax.ShapeDtypeStruct((), jnp.bool_)
        template = batched_template(states())
        inputs = (template.agent.params, template.key, members, flag, flag)
        program = jax.vmap(evaluate_member, in_axes=(0, 0, 0, None, None, None))
        return program, (*inputs, jax.ShapeDtypeStruct((), jnp.int32))

    key = ("evaluation", size, *identity)
    return key, lambda: stored.lower(key, build, options)


#: Environment variable: the persistent compilation cache's directory, or ``off``.
COMPILE_CACHE_VARIABLE = "JAXPG_COMPILE_CACHE"


def compilation_cache_dir() -> str | None:
    """The directory of the CLI's persistent compilation cache, or None when turned off.

    ``$JAXPG_COMPILE_CACHE`` when set (``off``, ``0`` or empty turn the cache off), else
    ``jaxpg/jax`` under the user's cache directory (``$XDG_CACHE_HOME``, by default
    ``~/.cache``; ``~/Library/Caches`` on macOS).
    """
    import os
    import sys

    setting = os.environ.get(COMPILE_CACHE_VARIABLE)
    if setting is not None:
        return None if setting.strip().lower() in ("", "0", "off", "false", "no") else setting
    if sys.platform == "darwin":
        base = os.path.expanduser("~/Library/Caches")
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(base, "jaxpg", "jax")


def enable_compilation_cache() -> str | None:
    """Turns on JAX's persistent compilation cache for this process (`compilation_cache_dir`):
    a repeated command loads its compiled programs from disk instead of compiling them.
    Returns the directory, or None when the cache is off (or JAX's own
    ``jax_compilation_cache_dir`` is already set: the user's setting wins)."""
    import jax

    directory = compilation_cache_dir()
    if directory is None or jax.config.jax_compilation_cache_dir:
        return jax.config.jax_compilation_cache_dir or None
    jax.config.update("jax_compilation_cache_dir", directory)
    # Every program of a run takes seconds to compile; keep even the quicker ones (the
    # initial states, the evaluation), which JAX skips below 1 s by default.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.1)
    return directory

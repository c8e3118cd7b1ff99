"""What a user waits for before training: argument errors without jax, Ctrl-C during
compilation, the persistent compilation cache, and evaluation programs kept between calls."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import jax
import numpy as np
import pytest

import jaxpg
from jaxpg import cli
from jaxpg.cli import fields, programs
from jaxpg.networks import default_policy


def _python(script, env=None, **kwargs):
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        **kwargs,
    )


def test_config_fields_read_from_source_match_the_dataclasses():
    for name, (config_class, _) in jaxpg.presets.algorithms().items():
        assert fields.CONFIG_CLASSES[name][0] == config_class.__name__
        assert fields.config_fields(name) == tuple(
            field.name for field in dataclasses.fields(config_class)
        )


def test_argument_errors_answer_without_importing_jax():
    result = _python(
        """
        import sys
        from jaxpg.cli import main
        for argv in (["train", "tpro", "--env", "CartPole-v1"],
                     ["train", "trpo", "--env", "CartPole-v1", "--set", "max_k1=0.1"],
                     ["train", "ppo", "--env", "CartPole-v1", "--set", "lr=0.1"]):
            print(main(argv))
        print("jax" in sys.modules)
        """
    )
    assert result.stdout.split() == ["2", "2", "2", "False"], result.stderr
    assert "unknown algorithm 'tpro' (did you mean 'trpo'?)" in result.stderr
    assert "unknown field 'max_k1' for trpo (TRPOConfig) (did you mean 'max_kl'?)" in result.stderr
    assert "unknown field 'lr' for ppo" in result.stderr and "learning_rate" in result.stderr


def test_ctrl_c_during_compilation_stops_at_once_and_leaves_no_run(tmp_path):
    out = tmp_path / "run"
    process = subprocess.Popen(
        # --compile optimized: the slower compile, so that Ctrl-C surely lands in it.
        [sys.executable, "-m", "jaxpg", "train", "trpo", "--env", "CartPole-v1", "--out", out]
        + ["--compile", "optimized"],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "JAXPG_COMPILE_CACHE": "off"},
        # A shell may start background jobs with SIGINT ignored; Ctrl-C reaches a terminal's
        # foreground process with the default disposition.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    # The header line comes just before the programs are traced and compiled; TRPO's take
    # well over 5 s to compile on any CPU (about 15 s on 2 cores).
    for line in process.stderr:
        if line.startswith("compilation cache:"):
            break
    time.sleep(2.0)
    assert (out / "config.json").exists() and not (out / "checkpoint.msgpack").exists()
    sent = time.perf_counter()
    process.send_signal(signal.SIGINT)
    rest = process.communicate(timeout=60)[1]
    waited = time.perf_counter() - sent
    assert process.returncode == 130, rest
    assert "interrupted before the first checkpoint" in rest
    assert not out.exists()
    assert waited < 5.0, f"exited {waited:.1f} s after Ctrl-C"


# The dropped KeyboardInterrupt is what this test reproduces; pytest reports it as unraisable.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_ctrl_c_that_python_drops_in_a_gc_callback_still_stops_the_waits():
    # Python runs the SIGINT handler in whatever Python code the main thread is in; raised in a
    # garbage-collection callback (JAX registers one), the KeyboardInterrupt is printed and
    # dropped. This reproduces that, then checks that the CLI's waits raise it anyway.

    def interrupt_during_gc(phase, info):
        if phase == "start":
            os.kill(os.getpid(), signal.SIGINT)

    ready = jax.numpy.ones(3)
    # Python's own handler, also where the test process started with SIGINT ignored (a
    # background job).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _dropped_interrupt_is_raised_by_the_waits(interrupt_during_gc, ready)
    finally:
        signal.signal(signal.SIGINT, previous)


def _dropped_interrupt_is_raised_by_the_waits(interrupt_during_gc, ready):
    import gc

    with programs.interrupt_handler():
        gc.callbacks.append(interrupt_during_gc)
        try:
            gc.collect()  # the handler runs inside the callback: the exception is dropped
        finally:
            gc.callbacks.remove(interrupt_during_gc)
        with pytest.raises(KeyboardInterrupt):
            programs.wait(ready)
        compilation = programs.Compilation("test", _Lowered("test", []))
        compilation.thread.join()
        with pytest.raises(KeyboardInterrupt):
            compilation.result()
        programs._ABANDONED.remove(compilation.thread)  # it had finished: nothing abandoned
        programs.interrupt_handled()
        programs.wait(ready)  # handled: waits work again
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


class _Lowered:
    """Stands for a lowered program: ``compile()`` records when it starts and, if given an
    event, waits for it (a compilation that takes as long as the test wants)."""

    def __init__(self, name, started, release=None):
        self.name, self.started, self.release = name, started, release

    def compile(self):
        self.started.append(self.name)
        if self.release is not None:
            assert self.release.wait(30)
        return f"compiled {self.name}"


def test_a_background_program_compiles_after_the_others_and_is_waited_for_when_asked():
    import threading

    started, release = [], threading.Event()
    key = ("background test", time.time())
    lowerings = {
        "chunk": ((*key, "chunk"), lambda: _Lowered("chunk", started)),
        "eval": ((*key, "eval"), lambda: _Lowered("eval", started, release)),
    }
    compiled, names = programs.cached_compile(lowerings, background=("eval",))
    # returned while the evaluation still compiles (it cannot finish before `release`)
    assert compiled == {"chunk": "compiled chunk"} and names == ["chunk", "eval"]
    deadline = time.monotonic() + 10
    while len(started) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert started == ["chunk", "eval"]  # the background one starts after the others
    threading.Timer(0.2, release.set).start()
    before = time.monotonic()
    compiled, names = programs.cached_compile({"eval": lowerings["eval"]})
    assert compiled == {"eval": "compiled eval"} and names == []  # waited, not compiled again
    assert time.monotonic() - before >= 0.1
    assert programs.cached_compile({"eval": lowerings["eval"]}) == (compiled, [])


def test_resume_of_a_run_without_checkpoint_says_what_happened(tmp_path, capsys):
    (tmp_path / "config.json").write_text(json.dumps({"algorithm": "trpo"}))
    assert cli.main(["train", "--resume", str(tmp_path)]) == 2
    assert "stopped before its first checkpoint" in capsys.readouterr().err


def test_compilation_cache_directory_and_switch(monkeypatch):
    monkeypatch.setenv(programs.COMPILE_CACHE_VARIABLE, "off")
    assert programs.compilation_cache_dir() is None
    monkeypatch.setenv(programs.COMPILE_CACHE_VARIABLE, "/some/where")
    assert programs.compilation_cache_dir() == "/some/where"
    monkeypatch.delenv(programs.COMPILE_CACHE_VARIABLE)
    monkeypatch.setenv("XDG_CACHE_HOME", "/cache/home")
    if sys.platform != "darwin":
        assert programs.compilation_cache_dir() == "/cache/home/jaxpg/jax"


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_evaluate_compiles_once_for_repeated_calls(env_id):
    config = jaxpg.PPOConfig(
        num_envs=2, num_steps=8, num_minibatches=2, total_timesteps=16, hidden_sizes=(4,)
    )
    env, env_params = jaxpg.make_env(env_id)
    params = {"policy": default_policy(config, env, env_params).init(jax.random.key(0))}
    compiles = []

    def listener(event, duration, **_):
        if event.endswith("backend_compile_duration"):
            compiles.append(event)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        first = jaxpg.evaluate(config, env, env_params, params, jax.random.key(1), 3)
        counted = len(compiles)
        again = jaxpg.evaluate(config, env, env_params, params, jax.random.key(1), 3)
        other = jaxpg.evaluate(config, env, env_params, params, jax.random.key(2), 3)
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    assert counted > 0 and len(compiles) == counted  # nothing compiled on the later calls
    assert (first == again).all() and first.shape == other.shape == (3,)
    # The kept program equals the same evaluation traced inside the caller's jit.
    inside = jax.jit(lambda key: jaxpg.evaluate(config, env, env_params, params, key, 3))
    np.testing.assert_allclose(inside(jax.random.key(1)), first, rtol=1e-5)


def test_deferred_modules_load_on_first_use_and_gymnax_does_not_load_them():
    result = _python(
        """
        import sys
        from jaxpg.cli.deferred import defer_imports
        print(defer_imports())
        import gymnax
        from gymnax.environments.bsuite import catch
        from gymnax.environments.misc import pong
        print("scipy.stats" in sys.modules, "pandas" in sys.modules)
        palette = pong.sns.color_palette("cubehelix", 3)  # first use: seaborn's code runs
        import seaborn
        import matplotlib.pyplot as plt
        print(len(palette), seaborn is pong.sns, "scipy.stats" in sys.modules)
        print(plt is catch.plt, callable(plt.subplots), type(seaborn).__name__)
        print(defer_imports())  # already imported: left alone
        """
    )
    assert result.stdout.split("\n")[:5] == [
        "['seaborn', 'matplotlib.pyplot']",
        "False False",
        "3 True True",
        "True True module",
        "[]",
    ], result.stderr


def test_a_deferred_module_that_fails_is_imported_again_next_time(tmp_path):
    (tmp_path / "flaky.py").write_text(
        "import os\nif not os.path.exists(os.environ['FLAG']):\n"
        "    open(os.environ['FLAG'], 'w').close()\n    raise RuntimeError('first time')\n"
        "value = 7\n"
    )
    result = _python(
        """
        import sys
        from jaxpg.cli.deferred import defer_imports
        defer_imports(("flaky",))
        import flaky
        try:
            flaky.value
        except RuntimeError as error:
            print(error, "flaky" in sys.modules)
        import flaky
        print(flaky.value)
        """,
        env={"PYTHONPATH": str(tmp_path), "FLAG": str(tmp_path / "flag")},
    )
    assert result.stdout.split("\n")[:2] == ["first time False", "7"], result.stderr


def test_the_command_writes_everything_before_it_ends_and_reuses_its_stored_programs(tmp_path):
    cache = tmp_path / "cache"
    command = [
        sys.executable, "-m", "jaxpg", "train", "vpg", "--env", "CartPole-v1",
        "--total-timesteps", "192", "--seeds", "2", "--no-progress", "--eval-episodes", "2",
        "--set", "num_envs=4", "--set", "num_steps=16", "--set", "hidden_sizes=8",
    ]  # fmt: skip
    # Buffered output (as when the command's output goes to a file), which it must flush.
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    environment["JAXPG_COMPILE_CACHE"] = str(cache)
    stored_files = {}
    for name in ("first", "second"):
        out = tmp_path / name
        result = subprocess.run(
            [*command, "--out", str(out)], capture_output=True, text=True, env=environment
        )
        assert result.returncode == 0, result.stderr
        assert "evaluation after training (2 episodes per seed" in result.stdout
        assert result.stdout.rstrip().endswith("learning_curve.png checkpoint.msgpack")
        assert (out / "learning_curve.png").read_bytes().endswith(b"IEND\xaeB`\x82")
        with open(out / "metrics.csv") as file:
            assert len(file.read().strip().split("\n")) == 1 + 3 * 2  # 3 iterations, 2 seeds
        record = json.loads((out / "config.json").read_text())
        assert record["summary"]["status"] == "finished"
        stored_files[name] = {  # a file written again would be a new inode (os.replace)
            path.name: path.stat().st_ino for path in (cache / "jaxpg-programs").iterdir()
        }
    # init, chunk and evaluation, stored by the first run and only read by the second
    assert len(stored_files["first"]) == 3 and stored_files["second"] == stored_files["first"]
    assert (tmp_path / "first" / "metrics.csv").read_text().split("\n")[1:] == (
        tmp_path / "second" / "metrics.csv"
    ).read_text().split("\n")[1:]


def test_fast_compile_options_train_the_same_up_to_round_off():
    """XLA:CPU's older emitters (`jaxpg.FAST_COMPILE_OPTIONS`) compile the same program: the
    same episodes, and every float metric equal to float32 round-off."""
    # Two iterations: round-off grows with every update and could, over many, flip a sampled
    # action on another CPU; after two, parameters differ by about 1e-7.
    config = jaxpg.PPOConfig(
        num_envs=4, num_steps=32, total_timesteps=4 * 32 * 2, num_minibatches=4
    )
    env, env_params = jaxpg.make_env("CartPole-v1")
    train = jaxpg.make_train(config, env, env_params)
    key = jax.random.key(0)
    default = jax.jit(train, compiler_options=jaxpg.COMPILER_OPTIONS)(key)
    fast = jax.jit(train, compiler_options=jaxpg.FAST_COMPILE_OPTIONS)(key)
    for name in ("episode_return", "episode_length", "episodes_finished", "env_steps"):
        np.testing.assert_array_equal(fast.metrics[name], default.metrics[name], err_msg=name)
    for name, value in default.metrics.items():
        np.testing.assert_allclose(fast.metrics[name], value, rtol=1e-4, atol=1e-6, err_msg=name)
    # Adam divides by the gradients' scale, so round-off in tiny gradients reaches the
    # parameters at about 1e-5.
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4),
        fast.params,
        default.params,
    )

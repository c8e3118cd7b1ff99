"""The jaxpg command line: parsing and validation, run files, eval, resume and Ctrl-C.

Training runs are tiny (a few iterations of a few small batches); `cli.main` runs in-process.
"""

import argparse
import csv
import json
import math
import os
import signal
import subprocess
import sys

import jax
import numpy as np
import pytest
from PIL import Image

import jaxpg
from jaxpg import checkpoint, cli
from jaxpg.cli import options as cli_options
from jaxpg.cli import runs as cli_runs
from jaxpg.cli import train as cli_train

VPG_TINY = ["--set", "num_envs=4", "--set", "num_steps=16", "--set", "hidden_sizes=8"]
BATCH = 4 * 16


def _run(argv, capsys):
    status = cli.main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return status, out, err


def _csv_rows(path):
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def _state_leaves(run_dir):
    run = cli_runs.load_run_checkpoint(str(run_dir))
    run.runner.close()
    state = run.state
    return [
        np.asarray(
            jax.random.key_data(leaf)
            if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key)
            else leaf
        )
        for leaf in jax.tree.leaves(state)
    ]


def test_python_m_jaxpg_help():
    result = subprocess.run(
        [sys.executable, "-m", "jaxpg", "--help"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0
    assert "train" in result.stdout and "eval" in result.stdout


@pytest.mark.parametrize(
    "text, value",
    [
        ("64,64", (64, 64)),
        ("64", 64),
        ("64,", (64,)),
        ("()", ()),
        ("(32, 32)", (32, 32)),
        ("1e-3", 1e-3),
        ("-2.5", -2.5),
        ("inf", math.inf),
        ("100_000", 100_000),
        ("true", True),
        ("False", False),
        ("none", None),
        ("vine", "vine"),
        ("'64'", "64"),
        ("[[1, -10], [0, 5]]", ((1, -10), (0, 5))),
    ],
)
def test_parse_value(text, value):
    assert cli.parse_value(text) == value


def test_build_config_defaults_overrides_and_coercion():
    maxent = cli.build_config("maxent")
    assert (maxent.entropy_alpha, maxent.exploration) == (1.0, "seed")
    assert cli.build_config("maxent", {"entropy_alpha": 0.5}).entropy_alpha == 0.5
    npg = cli.build_config("npg")
    assert npg.line_search is False and npg.algorithm_name == "npg"
    trpo = cli.build_config(
        "trpo", {"sampling": "vine", "hidden_sizes": 32, "max_kl": 1, "total_timesteps": 2e4}
    )
    assert trpo.sampling == "vine" and trpo.hidden_sizes == (32,)
    assert trpo.max_kl == 1.0 and isinstance(trpo.max_kl, float)
    assert trpo.total_timesteps == 20_000 and isinstance(trpo.total_timesteps, int)
    assert cli.build_config("ppo", num_envs=3).num_envs == 3
    assert cli.build_config("a2c", {"hidden_sizes": ()}).hidden_sizes == ()


def test_build_config_errors_name_the_problem():
    with pytest.raises(cli.CLIError, match="choose one of vpg, maxent, a2c, trpo, npg, ppo"):
        cli.build_config("reinforce")
    with pytest.raises(
        cli.CLIError,
        match=r"unknown field 'max_kll'.*did you mean 'max_kl'"
        r".*known fields: .*cg_iters",
    ):
        cli.build_config("trpo", {"max_kll": 0.1})
    with pytest.raises(cli.CLIError, match="max_kl=-1.0 is out of range"):
        cli.build_config("trpo", {"max_kl": -1})
    with pytest.raises(cli.CLIError, match="sampling='tree' is not allowed"):
        cli.build_config("trpo", {"sampling": "tree"})
    with pytest.raises(cli.CLIError, match="num_envs must be an integer"):
        cli.build_config("vpg", {"num_envs": 2.5})
    with pytest.raises(cli.CLIError, match="run `jaxpg train trpo` instead"):
        cli.build_config("npg", {"line_search": True})
    with pytest.raises(cli.CLIError, match="given twice"):
        cli.build_config("vpg", {"num_envs": 2}, num_envs=3)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "reinforce", "--env", "CartPole-v1"], "choose one of vpg, maxent, a2c"),
        (["train", "vpg"], "--env is required"),
        (
            ["train", "vpg", "--env", "Cartpole"],
            "unknown env_id 'Cartpole' (did you mean 'CartPole-v1'?); known ids: CartPole-v1",
        ),
        (["train", "vpg", "--env", "GridWorld-v0", "--env-set", "start=9,9"], "outside the 6x6"),
        (["train", "vpg", "--env", "CartPole-v1", "--set", "lr=1"], "known fields:"),
        (["train", "vpg", "--env", "CartPole-v1", "--set", "gamma"], "--set expects name=value"),
        (["train", "vpg", "--env", "CartPole-v1", "--seeds", "0"], "--seeds must be >= 1"),
        (["train", "vpg", "--env", "CartPole-v1", "--total-timesteps", "10"], "less than one"),
        (
            ["train", "trpo", "--env", "gymnasium:CartPole-v1", "--set", "sampling=vine"],
            "states of gymnasium:CartPole-v1 cannot be copied (host-side environment)",
        ),
        (["train", "vpg", "--env", "gymnasium:NoSuchEnv-v0"], "unknown gymnasium env id"),
        (
            ["train", "vpg", "--env", "CartPole-v1", "--sweep", "num_envs=4,8"],
            "--sweep num_envs: num_envs is a static field of VPGConfig (it fixes shapes or loop "
            "lengths, so each value would need its own compiled program); only traced fields "
            "can be swept in one compile; sweepable (traced) fields of vpg: gamma, "
            "init_log_std, obs_clip, reward_clip, learning_rate,",
        ),
        (
            ["train", "trpo", "--env", "CartPole-v1", "--sweep", "lr=0.1,0.2"],
            "--sweep lr: lr is short for learning_rate, which trpo (TRPOConfig) does not have; "
            "sweepable (traced) fields of trpo: gamma, init_log_std, obs_clip, reward_clip, "
            "max_kl,",
        ),
        (
            ["train", "ppo", "--env", "CartPole-v1", "--sweep", "learning_rat=0.1"],
            "unknown field for ppo (did you mean 'learning_rate'?)",
        ),
        (
            ["train", "vpg", "--env", "CartPole-v1", "--sweep", "lr=0.1,fast"],
            "--sweep learning_rate: 'fast' is not a number",
        ),
        (
            ["train", "vpg", "--env", "CartPole-v1", "--sweep", "lr=0.1,-1"],
            "--sweep learning_rate=-1: invalid vpg config: learning_rate=-1 is out of range",
        ),
        (
            ["train", "vpg", "--env", "CartPole-v1", "--sweep", "lr=0.1", "--set", "lr=0.1"],
            "known fields:",
        ),
        (
            ["train", "a2c", "--env", "CartPole-v1", "--sweep", "lr=0.1", "--sweep", "lr=0.2"],
            "--sweep learning_rate is given twice",
        ),
        (
            [
                "train",
                "vpg",
                "--env",
                "CartPole-v1",
                "--sweep",
                "lr=0.1,0.2",
                "--set",
                "learning_rate=0.1",
            ],
            "learning_rate is given twice (--set learning_rate=... and --sweep",
        ),
        (
            ["train", "vpg", "--env", "gymnasium:CartPole-v1", "--sweep", "lr=0.1,0.2"],
            "--sweep vmaps the grid in one compiled program, which needs a JAX environment",
        ),
        (["train", "--resume", "nowhere"], "nowhere does not exist"),
        (["train", "vpg", "--resume", "nowhere", "--set", "gamma=0.9"], "nowhere does not exist"),
        (["eval", "nowhere"], "nowhere does not exist"),
    ],
)
def test_usage_errors_exit_2_with_a_clear_message(argv, message, capsys, tmp_path):
    status, out, err = _run(
        argv + ["--out", tmp_path / "run"]
        if argv[1] != "--resume" and argv[0] == "train"
        else argv,
        capsys,
    )
    assert status == 2
    assert "jaxpg: error:" in err and message in err
    assert not (tmp_path / "run").exists()


def test_gridworld_run_files_and_eval(tmp_path, capsys):
    run_dir = tmp_path / "maxent"
    status, out, err = _run(
        [
            "train",
            "maxent",
            "--env",
            "GridWorld-v0",
            "--env-set",
            "max_steps=12",
            "--set",
            "num_envs=2",
            "--set",
            "num_steps=12",
            "--set",
            "hidden_sizes=()",
            "--total-timesteps",
            2 * 12 * 3,
            "--seed",
            3,
            "--seeds",
            2,
            "--eval-episodes",
            3,
            "--out",
            run_dir,
        ],
        capsys,
    )
    assert status == 0, err
    # The persistent compilation cache (the tests' own, see conftest.py) holds the programs.
    cache = os.environ["JAXPG_COMPILE_CACHE"]
    assert f"compilation cache: {cache}" in err
    for program in ("_init_member", "run_chunk", "evaluate_member"):
        assert any(program in entry for entry in os.listdir(cache)), program
    assert "maxent on GridWorld-v0: 3 iterations, 72 env steps per seed, 2 seeds" in out
    assert "evaluation after training (3 episodes per seed" in out and "compile" in out
    assert "3/3" in err  # the progress bar
    assert sorted(os.listdir(run_dir)) == [
        "checkpoint.msgpack",
        "config.json",
        "learning_curve.png",
        "metrics.csv",
    ]

    record = json.loads((run_dir / "config.json").read_text())
    assert record["algorithm"] == "maxent" and record["config_class"] == "VPGConfig"
    assert record["env_id"] == "GridWorld-v0"
    # The GridWorld preset's one-hot cells, and the given step limit.
    assert record["env_kwargs"] == {"observation": "one_hot", "max_steps": 12}
    assert record["config"]["entropy_alpha"] == 1.0 and record["config"]["hidden_sizes"] == []
    assert record["seeds"] == [3, 4] and record["jaxpg_version"] == "0.1.0"
    assert record["summary"]["status"] == "finished"
    assert record["summary"]["compiled_programs"] == ["init", "train chunk", "eval"]

    rows = _csv_rows(run_dir / "metrics.csv")
    assert list(rows[0])[:5] == [
        "iteration",
        "seed",
        "env_steps",
        "episode_return",
        "episode_length",
    ]
    assert {"policy_loss", "entropy", "skipped_updates"} <= set(rows[0])
    assert [(r["iteration"], r["seed"], r["env_steps"]) for r in rows] == [
        ("1", "3", "24"),
        ("1", "4", "24"),
        ("2", "3", "48"),
        ("2", "4", "48"),
        ("3", "3", "72"),
        ("3", "4", "72"),
    ]
    with Image.open(run_dir / "learning_curve.png") as image:
        assert image.format == "PNG" and image.size[0] > 500

    trained_eval = out.split("sampled actions): ")[1].split(" ")[0]

    gif = tmp_path / "episode.gif"
    status, out, err = _run(
        ["eval", run_dir, "--episodes", 3, "--which-seed", 4, "--render", gif], capsys
    )
    assert status == 0, err
    # By default eval uses the run's seeds, so it repeats the evaluation after training.
    assert f"returns over 3 episodes per seed (sampled actions): mean {trained_eval}," in out
    assert "seed 3: mean" in out and "seed 4: mean" in out
    assert "most probable action in every cell (seed 4" in out
    assert out.count("[") >= 6 and "(5, 0)" in out and "over 12 steps" in out
    assert "13 frames of 288x312" in out
    with Image.open(gif) as image:
        assert image.n_frames == 13 and image.size == (288, 312)

    # A checkpoint that is not this run's is refused.
    record["config"]["hidden_sizes"] = [16]
    (run_dir / "config.json").write_text(json.dumps(record))
    status, out, err = _run(["eval", run_dir], capsys)
    assert status == 2 and "does not match" in err and "hidden_sizes ([16] there, [] in" in err
    status, out, err = _run(["eval", run_dir, "--render", tmp_path / "x.mp4"], capsys)
    assert status == 2 and "FILE.gif" in err


def test_resume_and_ctrl_c_give_the_one_go_result_bit_for_bit(tmp_path, capsys, monkeypatch):
    common = [
        "train",
        "vpg",
        "--env",
        "CartPole-v1",
        "--seeds",
        2,
        "--chunk-size",
        2,
        "--eval-episodes",
        0,
        "--no-progress",
        *VPG_TINY,
    ]
    one_go, pieces = tmp_path / "one_go", tmp_path / "pieces"
    status, out, err = _run(common + ["--total-timesteps", 6 * BATCH, "--out", one_go], capsys)
    assert status == 0, err

    # 3 iterations in chunks of 2, with Ctrl-C arriving while the first chunk is saved.
    save = cli_train.save_checkpoint
    calls = []

    def save_then_interrupt(*args):
        save(*args)
        calls.append(None)
        if len(calls) == 2:  # the initial state, then the first chunk
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(cli_train, "save_checkpoint", save_then_interrupt)
    status, out, err = _run(common + ["--total-timesteps", 3 * BATCH, "--out", pieces], capsys)
    monkeypatch.undo()
    assert status == 130 and f"--resume {pieces}" in err
    assert len(_csv_rows(pieces / "metrics.csv")) == 2 * 2
    assert json.loads((pieces / "config.json").read_text())["summary"]["status"] == "interrupted"

    # Resuming without --total-timesteps finishes the run as configured (3 iterations) ...
    status, out, err = _run(
        ["train", "--resume", pieces, "--no-progress", "--eval-episodes", 0], capsys
    )
    assert status == 0, err
    assert "3 iterations" in out and len(_csv_rows(pieces / "metrics.csv")) == 3 * 2
    status, out, err = _run(["train", "--resume", pieces], capsys)
    assert status == 2 and "pass a larger --total-timesteps" in err
    # ... and --total-timesteps is the new total: 3 more, to 6.
    status, out, err = _run(
        [
            "train",
            "--resume",
            pieces,
            "--total-timesteps",
            6 * BATCH,
            "--no-progress",
            "--eval-episodes",
            0,
        ],
        capsys,
    )
    assert status == 0, err

    assert (pieces / "metrics.csv").read_text() == (one_go / "metrics.csv").read_text()
    for a, b in zip(_state_leaves(pieces), _state_leaves(one_go), strict=True):
        np.testing.assert_array_equal(a, b)
    record = json.loads((pieces / "config.json").read_text())
    assert record["config"]["total_timesteps"] == 6 * BATCH

    status, out, err = _run(common + ["--out", one_go], capsys)
    assert status == 2 and "already holds a run" in err


def test_resume_accepts_the_runs_own_options_and_names_a_change(tmp_path, capsys):
    # The options of the bit-for-bit test above: its compiled programs serve this run too.
    run_dir = tmp_path / "run"
    own = ["vpg", "--env", "CartPole-v1", *VPG_TINY, "--seeds", 2, "--chunk-size", 2]
    quiet = ["--eval-episodes", 0, "--no-progress"]
    status, out, err = _run(
        ["train", *own, "--total-timesteps", BATCH, "--out", run_dir, *quiet], capsys
    )
    assert status == 0, err

    # The command that started the run, repeated with --resume and a new total, continues it.
    status, out, err = _run(
        [
            "train",
            *own,
            "--seed",
            0,
            "--num-envs",
            4,
            "--out",
            run_dir,
            "--resume",
            run_dir,
            "--total-timesteps",
            2 * BATCH,
            *quiet,
        ],
        capsys,
    )
    assert status == 0, err
    assert "2 iterations" in out and len(_csv_rows(run_dir / "metrics.csv")) == 2 * 2

    changes = [
        (["npg"], "ALGO (the run's is 'vpg', given 'npg')"),
        (["--env", "Acrobot-v1"], "--env (the run's is 'CartPole-v1', given 'Acrobot-v1')"),
        (["--env-set", "max_steps=50"], "--env-set max_steps (the run does not set it, given 50)"),
        (["--set", "hidden_sizes=16"], "--set hidden_sizes (the run's is (8,), given (16,))"),
        (["--num-envs", 8], "--num-envs (the run's is 4, given 8)"),
        (["--seed", 1], "--seed (the run's is 0, given 1)"),
        (["--seeds", 3], "--seeds (the run's is 2, given 3)"),
        (["--sweep", "lr=0.1,0.2"], "--sweep (the run's is none, given learning_rate=0.1,0.2)"),
        (["--out", tmp_path / "other"], f"--out (the run's is '{run_dir}', given"),
    ]
    for argv, message in changes:
        status, out, err = _run(
            ["train", *argv, "--resume", run_dir, "--total-timesteps", 3 * BATCH], capsys
        )
        assert status == 2 and message in err, (argv, err)
        assert "Only --total-timesteps, --chunk-size, --eval-episodes" in err
    assert len(_csv_rows(run_dir / "metrics.csv")) == 2 * 2


def test_compile_mode_follows_the_run_length_and_stays_with_the_run(tmp_path, capsys):
    from jaxpg.cli.options import FAST_COMPILE_MAX_STEPS, resolve_compile_mode

    assert resolve_compile_mode("auto", FAST_COMPILE_MAX_STEPS) == "fast"
    assert resolve_compile_mode("auto", FAST_COMPILE_MAX_STEPS + 1) == "optimized"
    assert resolve_compile_mode("optimized", 1) == "optimized"
    assert resolve_compile_mode("fast", 10**9) == "fast"

    run_dir = tmp_path / "run"
    own = ["vpg", "--env", "CartPole-v1", *VPG_TINY, "--seeds", 2, "--chunk-size", 2]
    quiet = ["--eval-episodes", 0, "--no-progress"]

    def recorded():
        metadata = checkpoint.read_metadata(run_dir / "checkpoint.msgpack")["metadata"]
        return metadata["compile"], json.loads((run_dir / "config.json").read_text())["compile"]

    argv = ["train", *own, "--total-timesteps", BATCH, "--out", run_dir, *quiet]
    status, out, err = _run([*argv, "--compile", "optimized"], capsys)
    assert status == 0, err
    assert "programs compile optimized (--compile)" in err
    assert recorded() == ("optimized", "optimized")
    # A resume keeps the run's own choice, although auto would pick fast for this length ...
    resume = ["train", "--resume", run_dir, *quiet]
    status, out, err = _run([*resume, "--total-timesteps", 2 * BATCH], capsys)
    assert status == 0, err
    assert "programs compile optimized" in err and recorded() == ("optimized", "optimized")
    # ... and --compile changes it (auto: by the new length, all seeds together).
    status, out, err = _run([*resume, "--total-timesteps", 3 * BATCH, "--compile", "auto"], capsys)
    assert status == 0, err
    assert "programs compile fast" in err and recorded() == ("fast", "fast")
    assert len(_csv_rows(run_dir / "metrics.csv")) == 3 * 2

    # A new run without --compile: auto, counted over every member (2 seeds here).
    steps = FAST_COMPILE_MAX_STEPS // 2 + BATCH  # over the limit for 2 seeds, not for 1
    config = cli_options.build_config("vpg", {"num_envs": 4, "num_steps": 16}, steps)
    run = cli_runs.Run("vpg", config, "CartPole-v1", {}, None, None, None, [0, 1], "x", 1)
    assert cli_runs._compile_mode(argparse.Namespace(compile=None), run) == "optimized"
    run.seeds = [0]
    assert cli_runs._compile_mode(argparse.Namespace(compile=None), run) == "fast"


def test_every_key_of_a_cli_run_is_a_stream_of_its_own():
    """The run keys, the keys training splits the train key into (`init_keys`, then
    `iteration_keys` every iteration) and the reset key of a resumed host run
    (`resume_reset_key` of a carried key) are all distinct, for every seed."""
    from jaxpg.host_train import resume_reset_key
    from jaxpg.train import init_keys, iteration_keys

    keys = {}

    def add(name, key):
        keys[name] = tuple(np.asarray(jax.random.key_data(key)).ravel().tolist())

    for seed in (0, 1, 2):
        run = cli.run_keys(seed)
        add(f"{seed} train", run.train)
        add(f"{seed} evaluate", run.evaluate)
        add(f"{seed} render", run.render)
        agent_key, reset_key, carried = init_keys(run.train)
        add(f"{seed} agent", agent_key)
        add(f"{seed} reset", reset_key)
        for iteration in range(4):
            add(f"{seed} carried {iteration}", carried)
            add(f"{seed} resume reset {iteration}", resume_reset_key(carried))
            if iteration < 3:
                carried, rollout_key, update_key = iteration_keys(carried)
                add(f"{seed} rollout {iteration}", rollout_key)
                add(f"{seed} update {iteration}", update_key)
    by_data = {}
    for name, data in keys.items():
        by_data.setdefault(data, []).append(name)
    assert [names for names in by_data.values() if len(names) > 1] == []


def test_missing_box2d_hint_installs_as_the_readme_does(tmp_path, capsys, monkeypatch):
    import pathlib

    import gymnasium

    def make(*args, **kwargs):
        raise gymnasium.error.DependencyNotInstalled("Box2D is not installed")

    monkeypatch.setattr(gymnasium, "make", make)
    status, out, err = _run(
        ["train", "ppo", "--env", "gymnasium:LunarLander-v3", "--out", tmp_path / "run"], capsys
    )
    hint = 'pip install -e ".[box2d]"'
    assert status == 2 and hint in err and "jaxpg[box2d]" not in err
    readme = pathlib.Path(__file__).parents[1] / "README.md"
    assert hint in readme.read_text()


def test_summary_and_progress_bar_skip_seeds_with_no_finished_episode(capsys):
    from types import SimpleNamespace

    from jaxpg.bookkeeping import StepCount
    from jaxpg.cli import outputs
    from jaxpg.cli.run import Run

    steps = StepCount(np.zeros(4, np.int32), np.full(4, BATCH, np.int32))
    run = Run(
        algorithm="vpg",
        config=cli.build_config("vpg"),
        env_id="CartPole-v1",
        env_kwargs={},
        env=None,
        env_params=None,
        runner=None,
        seeds=[0, 1, 2, 3],
        out_dir="out",
        chunk_size=1,
        state=SimpleNamespace(env_steps=steps),
        history={
            "episode_return": np.full((4, 1), np.nan, np.float32),
            "env_steps": np.full((4, 1), BATCH, np.float32),
        },
        iterations_done=1,
    )
    seconds = {"wall_clock_s": 1.0, "compile_s": 0.5, "train_s": 0.5, "eval_s": 0.0}
    summary = outputs.make_summary(run, None, [], False, seconds)
    assert summary["final_return_mean"] is None and summary["env_steps_per_seed"] == BATCH
    json.dumps(summary, allow_nan=False)
    outputs.print_summary(run, summary)
    assert (
        "training episodes (last iteration): n/a, no episode has finished yet"
        in capsys.readouterr().out
    )
    assert outputs.progress_postfix(run, np.full(4, np.nan)) == {"train": "n/a"}

    run.history["episode_return"][1:, 0] = [np.nan, 20.0, 30.0]
    summary = outputs.make_summary(run, None, [], False, seconds)
    assert summary["final_return_mean"] == 25.0
    assert summary["final_return_per_seed"] == [None, None, 20.0, 30.0]
    outputs.print_summary(run, summary)
    assert "25 (seeds from 20 to 30) (2 seeds with no finished episode)" in capsys.readouterr().out

    run.seeds, run.sweep = [0, 1], cli.Sweep(("learning_rate",), ((0.1,), (0.2,)))
    assert outputs.progress_postfix(run, np.array([np.nan, np.nan, 20.0, np.nan])) == {
        "train": "20",
        "best": "20",
    }
    summary = outputs.make_summary(run, None, [], False, seconds)
    assert summary["best_grid_point"] == 1 and summary["sweep"][0]["final_return_mean"] is None
    outputs.print_summary(run, summary)
    out = capsys.readouterr().out
    assert "| 0 | 0.1 | n/a |  |" in out and "| 1 | 0.2 | 25 ± 5 | best |" in out
    run.history["episode_return"][:] = np.nan
    summary = outputs.make_summary(run, None, [], False, seconds)
    assert summary["best_grid_point"] is None
    outputs.print_summary(run, summary)
    assert "best: n/a, no episode has finished yet" in capsys.readouterr().out


def test_gymnasium_env_trains_on_the_host_evaluates_and_resumes(tmp_path, capsys):
    from jaxpg.host_train import train_host

    run_dir = tmp_path / "host"
    status, out, err = _run(
        [
            "train",
            "vpg",
            "--env",
            "gymnasium:CartPole-v1",
            *VPG_TINY,
            "--seeds",
            2,
            "--total-timesteps",
            3 * BATCH,
            "--chunk-size",
            2,
            "--eval-episodes",
            3,
            "--out",
            run_dir,
        ],
        capsys,
    )
    assert status == 0, err
    assert f"vpg on gymnasium:CartPole-v1: 3 iterations, {3 * BATCH} env steps per seed" in out
    assert "gymnasium on the host, seeds in turn" in out and "6/6" in err
    assert sorted(os.listdir(run_dir)) == [
        "checkpoint.msgpack",
        "config.json",
        "learning_curve.png",
        "metrics.csv",
    ]
    summary = json.loads((run_dir / "config.json").read_text())["summary"]
    assert summary["status"] == "finished" and summary["eval_episodes_per_seed"] == 3
    rows = _csv_rows(run_dir / "metrics.csv")
    assert [(r["iteration"], r["seed"]) for r in rows] == [
        (str(i), str(s)) for i in (1, 2, 3) for s in (0, 1)
    ]

    # Seed 0 in chunks of 2 is train_host in one go: the seed's episodes run on across chunks.
    env, env_params = jaxpg.make_env("gymnasium:CartPole-v1")
    config = cli.build_config(
        "vpg", cli.parse_assignments(VPG_TINY[1::2], "--set"), total_timesteps=3 * BATCH
    )
    result = train_host(config, env, env_params, cli.run_keys(0).train)
    np.testing.assert_array_equal(
        [np.float32(r["episode_return"]) for r in rows if r["seed"] == "0"],
        result.metrics["episode_return"],
    )

    trained_eval = out.split("sampled actions): ")[1].split(" ")[0]
    status, out, err = _run(["eval", run_dir, "--episodes", 3], capsys)
    assert status == 0, err
    assert f"returns over 3 episodes per seed (sampled actions): mean {trained_eval}," in out
    status, out, err = _run(["eval", run_dir, "--render", tmp_path / "x.gif"], capsys)
    assert status == 0 and (tmp_path / "x.gif").stat().st_size > 0, err

    status, out, err = _run(
        [
            "train",
            "--resume",
            run_dir,
            "--total-timesteps",
            4 * BATCH,
            "--no-progress",
            "--eval-episodes",
            0,
        ],
        capsys,
    )
    assert status == 0, err
    assert "4 iterations" in out and len(_csv_rows(run_dir / "metrics.csv")) == 4 * 2


def test_sweep_trains_the_grid_in_one_compiled_program(tmp_path, capsys):
    from jax import monitoring

    compiles, cache_events = [], []

    def record(event, duration, fun_name="", **kwargs):
        if event == "/jax/core/compile/backend_compile_duration" and "sweep_chunk" in fun_name:
            compiles.append(fun_name)

    def record_cache(event, **kwargs):
        if event.endswith(("/cache_hits", "/cache_misses")):
            cache_events.append(event.rsplit("/", 1)[1])

    monitoring.register_event_duration_secs_listener(record)
    monitoring.register_event_listener(record_cache)
    run_dir = tmp_path / "sweep"
    try:
        status, out, err = _run(
            [
                "train",
                "vpg",
                "--env",
                "CartPole-v1",
                *VPG_TINY,
                "--sweep",
                "lr=1e-3,0.1",
                "--seeds",
                2,
                "--total-timesteps",
                3 * BATCH,
                "--chunk-size",
                1,
                "--eval-episodes",
                2,
                "--out",
                run_dir,
            ],
            capsys,
        )
        assert status == 0, err
        # Three chunks of one iteration, two grid points x two seeds: one compiled program.
        assert compiles == ["jit(sweep_chunk)"]
        del cache_events[:]
        status, out_resumed, err_resumed = _run(
            [
                "train",
                "--resume",
                run_dir,
                "--no-progress",
                "--total-timesteps",
                4 * BATCH,
                "--eval-episodes",
                0,
            ],
            capsys,
        )
        assert status == 0, err_resumed
        # A resume (here with a new total) compiles nothing: its programs (the chunk, and the
        # evaluation during training) come from the persistent compilation cache.
        assert cache_events == ["cache_hits", "cache_hits"], cache_events
    finally:
        monitoring.unregister_event_duration_listener(record)
        monitoring.unregister_event_listener(record_cache)

    assert "2 seeds x 2 grid points (4 runs vmapped in one program)" in out
    assert "| # | learning_rate | final return (mean ± std over 2 seeds) |" in out
    assert "best (eval return, mean over seeds): grid point" in out and "3/3" in err
    assert sorted(os.listdir(run_dir)) == [
        "checkpoint.msgpack",
        "config.json",
        "metrics.csv",
        "sweep.csv",
        "sweep.md",
        "sweep.png",
    ]
    record = json.loads((run_dir / "config.json").read_text())
    assert record["sweep"] == {"fields": ["learning_rate"], "points": [[0.001], [0.1]]}
    assert "3 programs: init, train chunk, eval" in out
    # The resume traced its programs again (a new total); the executables came from the
    # persistent compilation cache (above).
    assert record["summary"]["compiled_programs"] == ["train chunk", "eval"]

    rows = _csv_rows(run_dir / "metrics.csv")
    assert list(rows[0])[:5] == ["iteration", "grid_point", "learning_rate", "seed", "env_steps"]
    assert [(r["iteration"], r["grid_point"], r["learning_rate"], r["seed"]) for r in rows] == [
        (str(i), str(g), lr, str(s))
        for i in (1, 2, 3, 4)
        for g, lr in ((0, "0.001"), (1, "0.1"))
        for s in (0, 1)
    ]
    by_point = {(r["iteration"], r["grid_point"], r["seed"]): r for r in rows}
    for seed in ("0", "1"):
        # The grid points share each seed's key: the same first rollout, then they part.
        first = [by_point["1", g, seed]["episode_return"] for g in ("0", "1")]
        assert first[0] == first[1]
        losses = [by_point["4", g, seed]["policy_loss"] for g in ("0", "1")]
        assert losses[0] != losses[1]

    table = _csv_rows(run_dir / "sweep.csv")
    assert [(r["grid_point"], r["learning_rate"]) for r in table] == [("0", "0.001"), ("1", "0.1")]
    assert {"final_return_mean", "final_return_std"} <= set(table[0])
    assert sum(r["best"] == "yes" for r in table) == 1
    with Image.open(run_dir / "sweep.png") as image:
        assert image.format == "PNG"

    status, out, err = _run(["eval", run_dir, "--episodes", 2], capsys)
    assert status == 0, err
    assert "sweep of 2 grid points, 4 iterations" in out and "| 1 | 0.1 |" in out
    status, out, err = _run(["eval", run_dir, "--which-seed", 1], capsys)
    assert status == 2 and "is a sweep of 2 grid points" in err


def test_parse_sweeps_grid_aliases_and_member_order():
    sweep = cli.parse_sweeps("a2c", ["lr=1e-3,1e-2", "ent_coef=0,0.1,0.2"], {})
    assert sweep.fields == ("learning_rate", "entropy_coef")
    assert sweep.points == tuple((lr, ent) for lr in (1e-3, 1e-2) for ent in (0.0, 0.1, 0.2))
    assert sweep.label(4) == "learning_rate=0.01, entropy_coef=0.1"
    values = sweep.member_values(num_seeds=2)  # member g * 2 + k: grid point g, k-th seed
    np.testing.assert_allclose(values["learning_rate"], [1e-3] * 6 + [1e-2] * 6)
    np.testing.assert_allclose(values["entropy_coef"], [0, 0, 0.1, 0.1, 0.2, 0.2] * 2)
    assert cli.parse_sweeps("ppo", ["entropy_coef=0.1", "lambda=0.9"], {}).fields == (
        "ent_coef",
        "gae_lambda",
    )
    assert cli.parse_sweeps("trpo", ["kl=0.01,0.02"], {}).fields == ("max_kl",)
    assert cli.parse_sweeps("vpg", None, {}) is None
    assert "gamma" in cli.sweepable_fields("npg") and "num_envs" not in cli.sweepable_fields("ppo")


def test_sweep_of_a_field_used_in_python_control_flow_is_a_clear_error(
    tmp_path, capsys, monkeypatch
):
    from jaxpg.algorithms import VPGConfig

    make_algorithm = VPGConfig.make_algorithm

    def branching(config, env, env_params, **networks):
        if config.learning_rate > 0.5:  # needs a concrete value
            pass
        return make_algorithm(config, env, env_params, **networks)

    monkeypatch.setattr(VPGConfig, "make_algorithm", branching)
    status, out, err = _run(
        [
            "train",
            "vpg",
            "--env",
            "CartPole-v1",
            *VPG_TINY,
            "--total-timesteps",
            BATCH,
            "--sweep",
            "lr=0.1,0.2",
            "--out",
            tmp_path / "run",
            "--no-progress",
        ],
        capsys,
    )
    assert status == 2
    assert "--sweep learning_rate: vpg needs a concrete value of a swept field" in err


def test_a_preset_is_the_starting_point_and_set_overrides_it(tmp_path, capsys):
    from jaxpg.cli.parser import build_parser

    argv = ["train", "ppo", "--env", "Pendulum-v1", "--out", str(tmp_path / "run")]
    run = cli_runs.setup_new_run(build_parser().parse_args([*argv, "--set", "num_epochs=3"]))
    preset = jaxpg.presets.get("ppo", "Pendulum-v1")
    for name, value in preset.fields.items():
        assert getattr(run.config, name) == value, name
    assert run.config.num_epochs == 3  # --set wins
    assert "preset for ppo on Pendulum-v1" in capsys.readouterr().err
    plain = cli_runs.setup_new_run(
        build_parser().parse_args(["train", "ppo", "--env", "CartPole-v1", "--out", str(tmp_path)])
    )
    # No preset: the config's own defaults, and the CLI's evaluation during training (about
    # ten evaluations per run).
    defaults = jaxpg.PPOConfig()
    assert plain.config == defaults.replace(eval_every=-(-defaults.num_iterations // 10))

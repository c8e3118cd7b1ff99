"""`jaxpg.loggers`: the CSV, TensorBoard and W&B loggers, read back from the files they write,
and ``jaxpg train --logger``.

One tiny vmapped PPO training (two seeds, two chunks) serves every test (module fixture).
TensorBoard event files are read with a TFRecord reader written here (tensorboardX has none
and tensorboard is not a test dependency; its EventAccumulator is used as well where
installed); W&B runs offline and its ``.wandb`` file is read the same way (the LevelDB-log
framing of wandb's transaction log), records parsed with wandb's own protobuf classes.
"""

from __future__ import annotations

import csv
import glob
import importlib.util
import json
import math
import os
import struct
import sys
import time
from typing import Any

import numpy as np
import pytest

from jaxpg import loggers
from jaxpg.loggers import CSVLogger, TensorBoardLogger, WandbLogger

SEEDS = [3, 4]
CHUNK = 3


@pytest.fixture(scope="module")
def training() -> dict[str, Any]:
    """Two chunks of a vmapped two-seed PPO run on CartPole: the config and each chunk's metrics
    (numpy ``[2, CHUNK]``). Four steps per environment and iteration: no episode has ended
    after the first iteration, so ``episode_return`` starts with NaN."""
    import jax

    import jaxpg

    config = jaxpg.PPOConfig(
        num_envs=4,
        num_steps=4,
        total_timesteps=16 * 2 * CHUNK,
        hidden_sizes=(8,),
        num_epochs=1,
        num_minibatches=1,
    )
    trainer = jaxpg.make_trainer(config, *jaxpg.make_env("CartPole-v1"))
    state = jax.jit(jax.vmap(trainer.init))(jax.vmap(jax.random.key)(np.asarray(SEEDS)))
    run = jax.jit(jax.vmap(trainer.run, in_axes=(0, None)), static_argnums=1)
    chunks = []
    for _ in range(2):
        state, metrics = run(state, CHUNK)
        chunks.append(metrics)  # jax arrays: the loggers take them as they are
    whole = {name: np.concatenate([np.asarray(c[name]) for c in chunks], 1) for name in chunks[0]}
    assert np.isnan(whole["episode_return"]).any() and np.isfinite(whole["episode_return"]).any()
    return {"config": config.to_dict(), "chunks": chunks, "whole": whole}


def _expected(whole: dict[str, np.ndarray], row: int) -> dict[str, list[tuple[int, float]]]:
    """Per metric (not env_steps), the ``(env_steps, value)`` points of a row, finite only."""
    steps = [round(float(step)) for step in whole["env_steps"][row]]
    return {
        name: [
            (step, float(value))
            for step, value in zip(steps, np.asarray(series[row], np.float64), strict=True)
            if math.isfinite(value)
        ]
        for name, series in whole.items()
        if name != "env_steps"
    }


# --------------------------------------------------------------------------- TensorBoard


def _masked_crc(data: bytes) -> int:
    from tensorboardX.crc32c import crc32c

    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _read_events(directory: str) -> list[Any]:
    """Every `Event` of the event files directly in ``directory``, checksums verified."""
    from tensorboardX.proto.event_pb2 import Event

    events = []
    for path in sorted(glob.glob(os.path.join(directory, "events.out.tfevents.*"))):
        with open(path, "rb") as file:
            data = file.read()
        position = 0
        while position < len(data):
            header = data[position : position + 8]
            (length,) = struct.unpack("<Q", header)
            (header_crc,) = struct.unpack("<I", data[position + 8 : position + 12])
            assert header_crc == _masked_crc(header), path
            payload = data[position + 12 : position + 12 + length]
            (payload_crc,) = struct.unpack(
                "<I", data[position + 12 + length : position + 16 + length]
            )
            assert payload_crc == _masked_crc(payload), path
            events.append(Event.FromString(payload))
            position += 16 + length
    return events


def _scalars(directory: str) -> dict[str, list[tuple[int, float]]]:
    points: dict[str, list[tuple[int, float]]] = {}
    for event in _read_events(directory):
        for value in event.summary.value:
            if value.WhichOneof("value") == "simple_value":
                points.setdefault(value.tag, []).append((event.step, value.simple_value))
    return points


def _hparams(directory: str) -> tuple[dict[str, Any], list[int]]:
    """The HParams session start's hyperparameters, and the session end statuses."""
    from tensorboardX.proto.plugin_hparams_pb2 import HParamsPluginData

    start: dict[str, Any] = {}
    ends = []
    for event in _read_events(directory):
        for value in event.summary.value:
            if value.metadata.plugin_data.plugin_name != "hparams":
                continue
            data = HParamsPluginData.FromString(value.metadata.plugin_data.content)
            if data.HasField("session_start_info"):
                for key, item in data.session_start_info.hparams.items():
                    start[key] = getattr(item, item.WhichOneof("kind"))
            if data.HasField("session_end_info"):
                ends.append(data.session_end_info.status)
    return start, ends


def _config_text(directory: str) -> dict[str, Any]:
    for event in _read_events(directory):
        for value in event.summary.value:
            if value.tag == "config/text_summary":
                text = value.tensor.string_val[0].decode()
                return json.loads(text.strip().strip("`"))
    raise AssertionError(f"no config text in {directory}")


def _assert_points(actual: list[tuple[int, float]], expected: list[tuple[int, float]]) -> None:
    assert [step for step, _ in actual] == [step for step, _ in expected]
    np.testing.assert_allclose(
        [value for _, value in actual], [value for _, value in expected], rtol=1e-6, atol=0
    )


def _assert_tensorboard(directory: str, whole: dict[str, np.ndarray], row: int) -> None:
    scalars = _scalars(directory)
    expected = _expected(whole, row)
    assert sorted(scalars) == sorted(expected)  # env_steps is the step, not a scalar
    for name, points in expected.items():
        _assert_points(scalars[name], points)
    # NaN returns (no episode ended yet) are not points
    assert len(scalars["episode_return"]) < whole["env_steps"].shape[1]
    if importlib.util.find_spec("tensorboard") is not None:  # tensorboard's own reader agrees
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        accumulator = EventAccumulator(directory)
        accumulator.Reload()
        read = [(e.step, e.value) for e in accumulator.Scalars("episode_return")]
        _assert_points(read, expected["episode_return"])


def test_tensorboard_one_run_per_seed_at_env_steps(training, tmp_path):
    logger = TensorBoardLogger(tmp_path / "tb", config=training["config"], seeds=SEEDS)
    for metrics in training["chunks"]:
        logger.log(metrics)
        assert _scalars(str(tmp_path / "tb" / "seed_3"))  # flushed after every chunk
    logger.close()
    assert sorted(os.listdir(tmp_path / "tb")) == ["seed_3", "seed_4"]
    for row, seed in enumerate(SEEDS):
        directory = str(tmp_path / "tb" / f"seed_{seed}")
        _assert_tensorboard(directory, training["whole"], row)
        hparams, ends = _hparams(directory)
        assert hparams["seed"] == seed and hparams["num_envs"] == 4
        assert hparams["learning_rate"] == pytest.approx(training["config"]["learning_rate"])
        assert hparams["hidden_sizes"] == "[8]" and hparams["anneal_lr"] is False
        assert len(ends) == 1  # the session ended at close
        assert _config_text(directory) == json.loads(json.dumps(training["config"]))


def test_tensorboard_one_seed_writes_to_the_directory_itself(training, tmp_path):
    with TensorBoardLogger(tmp_path, config={"gamma": 0.9}) as logger:
        for metrics in training["chunks"]:
            logger.log({name: np.asarray(value)[1] for name, value in metrics.items()})  # [n]
    assert not [entry for entry in os.scandir(tmp_path) if entry.is_dir()]
    _assert_tensorboard(str(tmp_path), training["whole"], 1)
    assert _hparams(str(tmp_path))[0] == {"gamma": pytest.approx(0.9)}


def test_tensorboard_skips_nan_evaluation_metrics(tmp_path):
    steps = np.asarray([[10.0, 20.0, 30.0]], np.float32)
    metrics = {
        "env_steps": steps,
        "eval_return": np.asarray([[np.nan, 5.0, np.nan]], np.float32),
        "loss": np.asarray([[1.0, np.inf, 3.0]], np.float32),
    }
    with TensorBoardLogger(tmp_path, seeds=[7]) as logger:
        logger.log(metrics)
    assert _scalars(str(tmp_path)) == {"eval_return": [(20, 5.0)], "loss": [(10, 1.0), (30, 3.0)]}
    assert _hparams(str(tmp_path))[0] == {"seed": 7}


def test_tensorboard_members_and_their_hyperparameters(tmp_path):
    members = {"point_0_seed_0": {"learning_rate": 0.1}, "point_1_seed_0": {"learning_rate": 0.2}}
    metrics = {"env_steps": np.asarray([[8.0], [8.0]]), "loss": np.asarray([[1.0], [2.0]])}
    with TensorBoardLogger(tmp_path, config={"learning_rate": 0.5}, members=members) as logger:
        logger.log(metrics)
    for index, name in enumerate(members):
        assert _scalars(str(tmp_path / name)) == {"loss": [(8, index + 1.0)]}
        assert _hparams(str(tmp_path / name))[0]["learning_rate"] == pytest.approx(
            0.1 * (index + 1)
        )


def test_loggers_refuse_metrics_of_the_wrong_shape(tmp_path):
    with TensorBoardLogger(tmp_path, seeds=[0, 1]) as logger:
        with pytest.raises(ValueError, match=r"3 rows .*made for 2"):
            logger.log({"env_steps": np.zeros((3, 2)), "loss": np.zeros((3, 2))})
        with pytest.raises(ValueError, match=r"metrics\['loss'\] has shape \[2, 3\]; expected"):
            logger.log({"env_steps": np.zeros((2, 2)), "loss": np.zeros((2, 3))})
        with pytest.raises(ValueError, match="no 'env_steps'"):
            logger.log({"loss": np.zeros((2, 2))})
        with pytest.warns(UserWarning, match=r"metrics\['histogram'\] has shape \[2, 1, 5\]"):
            logger.log({"env_steps": np.ones((2, 1)), "histogram": np.zeros((2, 1, 5))})
    assert _scalars(str(tmp_path / "seed_0")) == {}  # a vector per iteration is left out


# --------------------------------------------------------------------------- W&B


def _wandb_records(run_dir: str) -> list[Any]:
    """The records of an offline run's ``run-<id>.wandb``: a LevelDB-style log (7-byte header
    ``:W&B`` + magic + version, 32 KiB blocks of checksum, length, type, payload)."""
    from wandb.proto import wandb_internal_pb2

    paths = glob.glob(os.path.join(run_dir, "run-*.wandb"))
    if not paths:  # not created yet
        return []
    (path,) = paths
    with open(path, "rb") as file:
        data = file.read()
    assert data[:4] == b":W&B"[: len(data)]
    block, position, pending, records = 32768, 7, b"", []
    while position + 7 <= len(data):
        left = block - position % block
        if left < 7:  # a block's zero-padded tail
            position += left
            continue
        _, length, kind = struct.unpack("<IHB", data[position : position + 7])
        if position + 7 + length > len(data):  # a chunk still being written
            break
        payload = data[position + 7 : position + 7 + length]
        position += 7 + length
        if kind == 1:  # full
            records.append(payload)
        elif kind == 2:  # first
            pending = payload
        elif kind == 3:  # middle
            pending += payload
        elif kind == 4:  # last
            records.append(pending + payload)
    return [wandb_internal_pb2.Record.FromString(record) for record in records]


def _finished_wandb_records(run_dir: str, timeout: float = 60.0) -> list[Any]:
    """The run's records once its ``exit`` record is on disk. wandb's service process writes
    the transaction log, and CI once read a run with none of its records (config and name
    missing) right after ``finish()`` returned on a loaded machine: read until the run's end
    is there."""
    deadline = time.monotonic() + timeout
    while True:
        records = _wandb_records(run_dir)
        if any(record.WhichOneof("record_type") == "exit" for record in records):
            return records
        if time.monotonic() > deadline:
            kinds = [record.WhichOneof("record_type") for record in records]
            raise AssertionError(f"no exit record in {run_dir} after {timeout} s: {kinds}")
        time.sleep(0.2)


def _wandb_run(tmp_path) -> dict[str, Any]:
    """History rows, config, merged summary and metric definitions of the offline run."""
    (run_dir,) = glob.glob(str(tmp_path / "wandb" / "offline-run-*"))
    history, config, summary, metrics, name, project = [], {}, {}, [], None, None

    def key(item: Any) -> str:
        return "/".join(item.nested_key) if item.nested_key else item.key

    for record in _finished_wandb_records(run_dir):
        kind = record.WhichOneof("record_type")
        if kind == "history":
            history.append({key(item): json.loads(item.value_json) for item in record.history.item})
        elif kind == "run":
            name, project = record.run.display_name, record.run.project
            for item in record.run.config.update:
                config[key(item)] = json.loads(item.value_json)
        elif kind == "config":
            for item in record.config.update:
                config[key(item)] = json.loads(item.value_json)
        elif kind == "summary":
            for item in record.summary.update:
                summary[key(item)] = json.loads(item.value_json)
        elif kind == "metric":
            metrics.append(
                (record.metric.name or record.metric.glob_name, record.metric.step_metric)
            )
    summary_file = os.path.join(run_dir, "files", "wandb-summary.json")
    if os.path.exists(summary_file):  # written by some wandb versions offline
        with open(summary_file) as file:
            summary.update(json.load(file))
    return {
        "history": history,
        "config": config,
        "summary": summary,
        "metrics": metrics,
        "name": name,
        "project": project,
    }


@pytest.fixture
def wandb_offline(monkeypatch, tmp_path):
    pytest.importorskip("wandb")
    for variable, value in {
        "WANDB_SILENT": "true",
        "WANDB_MODE": "offline",
        "WANDB_CONSOLE": "off",
        "WANDB_CONFIG_DIR": str(tmp_path / "wandb-config"),
        "WANDB_CACHE_DIR": str(tmp_path / "wandb-cache"),
        "WANDB_DATA_DIR": str(tmp_path / "wandb-data"),
    }.items():
        monkeypatch.setenv(variable, value)
    monkeypatch.delenv("WANDB_PROJECT", raising=False)


def test_wandb_one_offline_run_with_seed_prefixes(training, tmp_path, wandb_offline):
    logger = WandbLogger(
        project="jaxpg-test",
        config=training["config"],
        seeds=SEEDS,
        dir=tmp_path,
        mode="offline",
        name="tiny",
    )
    for metrics in training["chunks"]:
        logger.log(metrics)
    logger.close()
    run = _wandb_run(tmp_path)
    whole = training["whole"]
    assert run["name"] == "tiny"
    assert run["config"]["num_envs"] == 4 and run["config"]["hidden_sizes"] == [8]
    assert run["config"]["seeds"] == SEEDS
    assert ("env_steps", "") in run["metrics"] and ("*", "env_steps") in run["metrics"]
    history = run["history"]
    assert [row["env_steps"] for row in history] == [round(float(s)) for s in whole["env_steps"][0]]
    for row_index, seed in enumerate(SEEDS):
        for name, points in _expected(whole, row_index).items():
            logged = [
                (row["env_steps"], row[f"seed_{seed}/{name}"])
                for row in history
                if f"seed_{seed}/{name}" in row
            ]
            _assert_points(logged, points)  # NaN returns are absent, not NaN
            assert run["summary"][f"seed_{seed}/{name}"] == pytest.approx(points[-1][1], rel=1e-6)
    assert not any(key == "episode_return" for row in history for key in row)  # prefixed only


def test_wandb_one_seed_logs_plain_names(training, tmp_path, wandb_offline):
    with WandbLogger(config={"gamma": 0.9}, dir=tmp_path, mode="offline") as logger:
        for metrics in training["chunks"]:
            logger.log({name: np.asarray(value)[:1] for name, value in metrics.items()})
    run = _wandb_run(tmp_path)
    assert run["config"]["gamma"] == 0.9
    points = _expected(training["whole"], 0)["episode_return"]
    logged = [
        (row["env_steps"], row["episode_return"])
        for row in run["history"]
        if "episode_return" in row
    ]
    _assert_points(logged, points)


# --------------------------------------------------------------------------- CSV


def test_make_loggers_wandb_names_the_run_after_its_directory(tmp_path, wandb_offline):
    # the CLI's W&B run: mode from WANDB_MODE (offline here), project jaxpg, name the run dir
    run_dir = tmp_path / "ppo-CartPole-v1-1"
    (logger,) = loggers.make_loggers("wandb", run_dir, {"algorithm": "ppo"}, [0, 1])
    logger.log({"env_steps": np.asarray([[8.0], [8.0]]), "loss": np.asarray([[1.0], [np.nan]])})
    loggers.close_loggers([logger])
    run = _wandb_run(run_dir)
    assert run["name"] == "ppo-CartPole-v1-1" and run["project"] == "jaxpg"
    assert run["config"]["algorithm"] == "ppo" and run["config"]["seeds"] == [0, 1]
    assert len(run["history"]) == 1
    logged = {key: value for key, value in run["history"][0].items() if not key.startswith("_")}
    assert logged == {"env_steps": 8, "seed_0/loss": 1.0}  # seed 1's NaN left out


def test_csv_logger_writes_the_cli_metrics_csv_format(training, tmp_path):
    from jaxpg.cli import write_metrics_csv

    path = tmp_path / "logged.csv"
    logger = CSVLogger(path, seeds=SEEDS)
    for metrics in training["chunks"]:
        logger.log(metrics)
    logger.close()
    write_metrics_csv(str(tmp_path / "cli.csv"), training["whole"], SEEDS)
    assert path.read_text() == (tmp_path / "cli.csv").read_text()

    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    whole = training["whole"]
    assert list(rows[0])[:5] == [
        "iteration",
        "seed",
        "env_steps",
        "episode_return",
        "episode_length",
    ]
    assert len(rows) == 2 * CHUNK * len(SEEDS)
    for index, row in enumerate(rows):
        iteration, member = divmod(index, len(SEEDS))
        assert int(row["iteration"]) == iteration + 1 and int(row["seed"]) == SEEDS[member]
        assert row["env_steps"] == str(round(float(whole["env_steps"][member, iteration])))
        for name in whole:
            np.testing.assert_allclose(float(row[name]), whole[name][member, iteration], rtol=1e-6)


def test_csv_logger_appends_a_resumed_run(training, tmp_path):
    first, second = training["chunks"]
    path = tmp_path / "metrics.csv"
    CSVLogger(path, SEEDS).log(first)
    CSVLogger(path, SEEDS, first_iteration=CHUNK + 1, append=True).log(second)
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    assert [int(row["iteration"]) for row in rows] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6]
    with pytest.raises(ValueError, match="has the columns"):
        CSVLogger(path, SEEDS, append=True).log({"env_steps": np.zeros((2, 1))})


# --------------------------------------------------------------------------- names, libraries


def test_logger_names_are_checked_with_the_closest_suggested():
    assert loggers.parse_logger_names(" csv, tensorboard,csv ") == ["csv", "tensorboard"]
    assert loggers.parse_logger_names(["wandb"]) == ["wandb"]
    with pytest.raises(ValueError) as error:
        loggers.parse_logger_names("csv,tensorbord")
    message = str(error.value)
    assert "'tensorbord'" in message and "did you mean 'tensorboard'" in message
    assert "csv, tensorboard, wandb" in message
    with pytest.raises(ValueError, match="no logger named"):
        loggers.parse_logger_names(",")


def test_a_missing_library_names_the_pip_command(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # import tensorboardX fails
    monkeypatch.setitem(sys.modules, "wandb", None)
    with pytest.raises(ImportError, match=r"tensorboardX .*pip install tensorboardX"):
        TensorBoardLogger(tmp_path)
    with pytest.raises(ImportError, match=r"pip install wandb .*jaxpg\[wandb\]"):
        WandbLogger(dir=tmp_path)
    with pytest.raises(ValueError, match="--logger tensorboard needs .*pip install tensorboardX"):
        loggers.check_logger_names("csv,tensorboard")
    assert loggers.check_logger_names("csv") == ["csv"]


def test_make_loggers_for_the_cli(tmp_path):
    assert loggers.make_loggers("csv", tmp_path, {}, [0]) == []
    made = loggers.make_loggers("csv,tensorboard", tmp_path / "run", {"gamma": 0.9}, [0, 1])
    assert [type(logger) for logger in made] == [TensorBoardLogger]
    loggers.close_loggers(made)
    assert sorted(os.listdir(tmp_path / "run" / "tensorboard")) == ["seed_0", "seed_1"]
    with pytest.raises(ValueError, match="unknown logger 'csvv'"):
        loggers.make_loggers("csvv", tmp_path, {}, [0])


# --------------------------------------------------------------------------- the CLI


def _fail_setup(args: Any) -> None:
    raise AssertionError("the run was set up before --logger was checked")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("csv,wandbb", "unknown logger 'wandbb' (did you mean 'wandb'?); choose from csv"),
        ("tensorboard", "--logger tensorboard needs the tensorboardX package"),
    ],
)
def test_cli_refuses_a_bad_logger_before_setting_up(value, message, monkeypatch, capsys):
    from jaxpg import cli
    from jaxpg.cli import train as cli_train

    monkeypatch.setattr(cli_train, "setup_new_run", _fail_setup)
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    status = cli.main(["train", "ppo", "--env", "CartPole-v1", "--logger", value])
    assert status == 2
    err = capsys.readouterr().err
    assert message in err, err


def test_cli_sweep_members_are_grid_points_by_seeds(tmp_path, capsys):
    from types import SimpleNamespace

    from jaxpg.cli import Sweep
    from jaxpg.cli import train as cli_train

    run = SimpleNamespace(
        algorithm="ppo",
        env_id="CartPole-v1",
        env_kwargs={},
        config=SimpleNamespace(to_dict=lambda: {"learning_rate": 0.5, "gamma": 0.9}),
        seeds=[5, 6],
        sweep=Sweep(("learning_rate",), ((0.1,), (0.2,))),
        out_dir=str(tmp_path),
    )
    (logger,) = cli_train._start_loggers(run, SimpleNamespace(logger="csv,tensorboard"))
    steps = np.full((4, 1), 64.0)
    logger.log({"env_steps": steps, "loss": np.arange(4.0).reshape(4, 1)})
    logger.close()
    assert "tensorboard --logdir" in capsys.readouterr().err
    members = ["point_0_seed_5", "point_0_seed_6", "point_1_seed_5", "point_1_seed_6"]
    assert sorted(os.listdir(tmp_path / "tensorboard")) == members
    for index, member in enumerate(members):  # member g * seeds + k: grid point g, k-th seed
        directory = str(tmp_path / "tensorboard" / member)
        assert _scalars(directory) == {"loss": [(64, float(index))]}
        hparams, _ = _hparams(directory)
        assert hparams["learning_rate"] == pytest.approx(0.1 * (index // 2 + 1))
        assert hparams["seed"] == [5, 6][index % 2] and hparams["gamma"] == pytest.approx(0.9)
        assert json.loads(hparams["sweep"]) == {
            "fields": ["learning_rate"],
            "points": [[0.1], [0.2]],
        }
    assert cli_train._start_loggers(run, SimpleNamespace(logger="csv")) == []


def test_cli_train_logs_metrics_csv_to_tensorboard(tmp_path, capsys):
    from jaxpg import cli

    out = tmp_path / "run"
    status = cli.main(
        [
            "train",
            "ppo",
            "--env",
            "CartPole-v1",
            "--total-timesteps",
            "96",
            "--seeds",
            "2",
            "--chunk-size",
            "2",
            "--set",
            "num_envs=4",
            "--set",
            "num_steps=4",
            "--set",
            "hidden_sizes=8",
            "--set",
            "num_epochs=1",
            "--set",
            "num_minibatches=1",
            "--eval-episodes",
            "0",
            "--no-progress",
            "--out",
            str(out),
            "--logger",
            "csv,tensorboard",
        ]
    )
    err = capsys.readouterr().err
    assert status == 0, err
    assert "tensorboard --logdir" in err
    with open(out / "metrics.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 6 * 2
    for seed in (0, 1):
        scalars = _scalars(str(out / "tensorboard" / f"seed_{seed}"))
        mine = [row for row in rows if row["seed"] == str(seed)]
        names = [name for name in rows[0] if name not in ("iteration", "seed", "env_steps")]
        for name in names:
            expected = [
                (int(row["env_steps"]), float(row[name]))
                for row in mine
                if math.isfinite(float(row[name]))
            ]
            _assert_points(scalars.get(name, []), expected)
        assert len(scalars["episode_return"]) < len(mine)  # NaN returns skipped
        hparams, ends = _hparams(str(out / "tensorboard" / f"seed_{seed}"))
        assert hparams["algorithm"] == "ppo" and hparams["env_id"] == "CartPole-v1"
        assert hparams["seed"] == seed and len(ends) == 1

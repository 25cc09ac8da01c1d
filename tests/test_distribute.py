"""tf.distribute on the CPU: a two-replica MirroredStrategy training, a single-worker
MultiWorkerMirroredStrategy, and a cluster of two worker processes on 127.0.0.1.

Each runs in subprocesses, because the logical CPU devices and the multi-worker runtime must be
configured before TensorFlow starts, which in the pytest process has already happened.
"""

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

SCRIPT = textwrap.dedent(
    """
    import json, os, socket, sys
    from pathlib import Path

    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    with socket.socket() as s:  # a free port for the one-worker cluster
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    os.environ["TF_CONFIG"] = json.dumps({"cluster": {"worker": [f"localhost:{port}"]}, "task": {"type": "worker", "index": 0}})

    from rsed.training.distribute import make_strategy

    strategies = {name: make_strategy(name) for name in ("multiworker", "mirrored")}  # multi-worker first

    import numpy as np
    from rsed.config import FeatureConfig, ModelConfig, TrainConfig
    from rsed.features import compute_stats
    from rsed.run.members import _sequences
    from rsed.training.streaming import CachedSteps
    from rsed.features.synthetic_cache import write_synthetic_cache
    from rsed.training.fit import build_model, train_detector, window_dataset

    class Numbered:
        # Batches whose windows are numbered 100 * index + position, to see how they are split.

        window_shape = (2, 1, 1)

        def batch(self, batch_size, epoch, index):
            x = np.arange(100 * index, 100 * index + batch_size, dtype=np.float32).reshape(-1, 1, 1, 1, 1)
            return np.broadcast_to(x, (batch_size, 2, 1, 1, 1)).copy(), np.zeros((batch_size, 2, 1), np.float32)

    split = iter(strategies["mirrored"].experimental_distribute_dataset(window_dataset(Numbered(), 8, 3)))
    per_replica = [[v.numpy()[:, 0, 0, 0, 0].astype(int).tolist() for v in next(split)[0].values] for _ in range(2)]

    work = Path(sys.argv[1])
    path = write_synthetic_cache(work / "train.h5", [200, 150, 120], FeatureConfig(n_mels=16), seed=1)
    mean, std = compute_stats([path])
    validation = _sequences(path, mean, std, 8)[:1]
    report = {"split": per_replica}
    for name, strategy in strategies.items():
        model = build_model("crnn", ModelConfig(timesteps=3, conv_filters=2, spectral_filters=2, rnn_units=2, dense_units=2), 8, 16)
        before = [w.copy() for w in model.get_weights()]
        config = TrainConfig(min_epochs=1, max_epochs=1, steps_per_epoch=2, batch_size=8, strategy=name)
        history = train_detector(model, CachedSteps(path, mean, std, 8), validation, config, work / name, verbose=0)
        report[name] = {
            "replicas": strategy.num_replicas_in_sync,
            "devices": list(strategy.extended.worker_devices),
            "loss": history.history["loss"],
            "changed": sum(not np.array_equal(a, b) for a, b in zip(before, model.get_weights())),
            "weights": len(before),
            "trained_model_replicas": history.model.distribute_strategy.num_replicas_in_sync,
            "returned_model_in_default_scope": model.distribute_strategy is tf.distribute.get_strategy(),
        }
    # Without dropout, two replicas must compute what one device computes with the global batch.
    weights = {}
    for name in ("default", "mirrored"):
        model = build_model("crnn", ModelConfig(timesteps=3, conv_filters=2, spectral_filters=2, rnn_units=2, dense_units=2, dropout=0.0), 8, 16, seed=7)
        config = TrainConfig(min_epochs=1, max_epochs=1, steps_per_epoch=3, batch_size=8, strategy=name, prior_correction=False)
        train_detector(model, CachedSteps(path, mean, std, 8), validation, config, work / f"same-{name}", verbose=0)
        weights[name] = model.get_weights()
    report["mirrored_vs_default"] = max(float(np.abs(a - b).max()) for a, b in zip(weights["default"], weights["mirrored"]))
    print("REPORT " + json.dumps(report))
    """
)


def _subprocess_env(**extra: str) -> dict[str, str]:
    """The environment of a TensorFlow subprocess: rsed importable, CPU only, quiet."""
    path = os.pathsep.join([str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2", **extra}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    work = tmp_path_factory.mktemp("distribute")
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(work)], capture_output=True, text=True, env=_subprocess_env(), timeout=600)
    lines = [line for line in done.stdout.splitlines() if line.startswith("REPORT ")]
    assert done.returncode == 0 and lines, f"subprocess failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return json.loads(lines[-1][len("REPORT ") :])


def test_mirrored_trains_on_two_replicas(report):
    mirrored = report["mirrored"]
    assert mirrored["replicas"] == 2 and len(mirrored["devices"]) == 2
    assert mirrored["trained_model_replicas"] == 2
    assert all(math.isfinite(v) for v in mirrored["loss"])
    assert mirrored["changed"] == mirrored["weights"], "some weights did not change after a two-replica step"
    assert mirrored["returned_model_in_default_scope"]


def test_two_replicas_train_as_one_device_with_the_global_batch(report):
    # Synchronised batch normalisation: the moments and moving statistics are those of the global
    # batch (per-replica statistics gave differences of 5e-3 here), so only rounding remains.
    assert report["mirrored_vs_default"] < 1e-6


def test_global_batch_is_split_across_the_replicas(report):
    assert report["split"] == [[[0, 1, 2, 3], [4, 5, 6, 7]], [[100, 101, 102, 103], [104, 105, 106, 107]]]


def test_multiworker_trains_as_a_single_worker(report):
    worker = report["multiworker"]
    assert worker["replicas"] == 1 and len(worker["devices"]) == 1 and "/job:worker" in worker["devices"][0]
    assert all(math.isfinite(v) for v in worker["loss"])
    assert worker["changed"] == worker["weights"]


# ----------------------------------------------------------------------------------------------
# Two workers on this host: MultiWorkerMirroredStrategy over 127.0.0.1

WORKER = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path

    from rsed.training.distribute import make_strategy

    strategy = make_strategy("multiworker")  # before TensorFlow runs anything; reads TF_CONFIG

    import numpy as np
    from rsed.config import FeatureConfig, ModelConfig, TrainConfig
    from rsed.features import compute_stats
    from rsed.features.synthetic_cache import write_synthetic_cache
    from rsed.run.members import _sequences
    from rsed.training.fit import build_model, train_detector
    from rsed.training.streaming import CachedSteps

    work = Path(sys.argv[1])  # this worker's own folder: caches, snapshots and logs are per worker
    path = write_synthetic_cache(work / "train.h5", [200, 150, 120], FeatureConfig(n_mels=16), seed=1)
    mean, std = compute_stats([path])
    model = build_model("crnn", ModelConfig(timesteps=3, conv_filters=2, spectral_filters=2, rnn_units=2, dense_units=2), 8, 16, seed=7)
    before = [w.copy() for w in model.get_weights()]
    config = TrainConfig(min_epochs=2, max_epochs=2, steps_per_epoch=2, batch_size=8, strategy="multiworker")
    history = train_detector(model, CachedSteps(path, mean, std, 8), _sequences(path, mean, std, 8)[:1], config, work / "model", verbose=0)
    np.savez(work / "weights.npz", *model.get_weights())
    report = {
        "replicas": strategy.num_replicas_in_sync,
        "workers": strategy.extended._num_workers,
        "devices": list(strategy.extended.worker_devices),
        "loss": history.history["loss"],
        "changed": sum(not np.array_equal(a, b) for a, b in zip(before, model.get_weights())),
        "weights": len(before),
    }
    print("REPORT " + json.dumps(report), flush=True)
    """
)


def _free_ports(n: int) -> list[int]:
    """``n`` distinct free TCP ports on 127.0.0.1 (bound together, then released for the workers)."""
    import socket

    sockets = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def test_two_workers_train_in_step_and_end_with_identical_weights(tmp_path):
    try:
        ports = _free_ports(2)
    except OSError as exc:
        pytest.skip(f"no TCP on the loopback interface 127.0.0.1 for a two-worker cluster ({exc})")
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    procs = []
    try:
        for index in range(2):
            work = tmp_path / f"worker{index}"
            work.mkdir()
            env = _subprocess_env(TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
            procs.append((work, subprocess.Popen([sys.executable, "-c", WORKER, str(work)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)))
        outputs = [proc.communicate(timeout=300) for _, proc in procs]  # a worker that waits for a dead peer would hang: the timeout ends it
    finally:
        for _, proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    reports = []
    for (work, proc), (out, err) in zip(procs, outputs, strict=True):
        lines = [line for line in out.splitlines() if line.startswith("REPORT ")]
        assert proc.returncode == 0 and lines, f"{work.name} failed ({proc.returncode}):\n{out[-3000:]}\n{err[-3000:]}"
        reports.append(json.loads(lines[-1][len("REPORT ") :]))
    for index, report in enumerate(reports):
        assert report["workers"] == 2 and report["replicas"] == 2  # one replica per worker, in sync
        assert report["devices"] == [f"/job:worker/replica:0/task:{index}/device:CPU:0"]
        assert len(report["loss"]) == 2 and all(math.isfinite(v) for v in report["loss"])
        assert report["changed"] == report["weights"]
    assert reports[0]["loss"] == reports[1]["loss"]  # the losses are reduced across the workers
    with np.load(tmp_path / "worker0" / "weights.npz") as first, np.load(tmp_path / "worker1" / "weights.npz") as second:
        assert first.files == second.files
        for name in first.files:
            np.testing.assert_array_equal(first[name], second[name])  # all-reduced gradients: the same weights

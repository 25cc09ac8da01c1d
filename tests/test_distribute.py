"""tf.distribute on the CPU: a two-replica MirroredStrategy training and a single-worker MultiWorkerMirroredStrategy.

Both run in one subprocess, because the logical CPU devices and the multi-worker runtime must
be configured before TensorFlow starts, which in the pytest process has already happened.
"""

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

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
    print("REPORT " + json.dumps(report))
    """
)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    work = tmp_path_factory.mktemp("distribute")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")]), "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(work)], capture_output=True, text=True, env=env, timeout=600)
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


def test_global_batch_is_split_across_the_replicas(report):
    assert report["split"] == [[[0, 1, 2, 3], [4, 5, 6, 7]], [[100, 101, 102, 103], [104, 105, 106, 107]]]


def test_multiworker_trains_as_a_single_worker(report):
    worker = report["multiworker"]
    assert worker["replicas"] == 1 and len(worker["devices"]) == 1 and "/job:worker" in worker["devices"][0]
    assert all(math.isfinite(v) for v in worker["loss"])
    assert worker["changed"] == worker["weights"]

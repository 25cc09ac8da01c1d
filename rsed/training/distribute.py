"""Training on several devices or hosts (tf.distribute) and in mixed precision.

``TrainConfig.strategy`` picks how a detector trains: ``'default'`` (one device),
``'mirrored'`` (every GPU of this host, or every logical CPU device when there is no GPU:
synchronous data parallelism) or ``'multiworker'`` (several hosts described by the
``TF_CONFIG`` environment variable). ``TrainConfig.batch_size`` is the global batch: each of
N replicas computes the gradient of ``batch_size / N`` windows and the gradients are summed.

The detector the rest of rsed sees is always a plain float32 single-device model; only a
training copy (:func:`training_replica`) lives inside the strategy's scope, in mixed
precision when asked for, and its weights are copied back after training.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import logging
import os

import keras

log = logging.getLogger(__name__)

STRATEGIES = ("default", "mirrored", "multiworker")

#: Keras dtype policy used for training when mixed precision is on (GPU only).
MIXED_POLICY = "mixed_float16"


def check_strategy(name: str) -> str:
    """Return ``name`` when it is a known strategy, else raise ``ValueError`` listing them."""
    if name not in STRATEGIES:
        raise ValueError(f"unknown distribution strategy {name!r}; choose from {', '.join(STRATEGIES)}")
    return name


@functools.lru_cache(maxsize=None)
def make_strategy(name: str):
    """The ``tf.distribute.Strategy`` called ``name``; one instance per name and process.

    A multi-worker strategy configures TensorFlow's collective ops and may be created only
    once, before TensorFlow runs anything: the command line calls this at start-up, and
    later calls return the same object.
    """
    import tensorflow as tf

    check_strategy(name)
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
        devices = gpus or [d.name for d in tf.config.list_logical_devices("CPU")]
        # On CPUs NCCL does not exist; summing on one device is what works everywhere.
        cross_device_ops = None if gpus else tf.distribute.ReductionToOneDevice()
        return tf.distribute.MirroredStrategy(devices=devices, cross_device_ops=cross_device_ops)
    if "TF_CONFIG" not in os.environ:
        log.warning("strategy 'multiworker' without TF_CONFIG: training on this host alone")
    else:
        try:
            json.loads(os.environ["TF_CONFIG"])
        except ValueError as exc:
            raise ValueError(f"TF_CONFIG is not valid JSON ({exc})") from None
    return tf.distribute.MultiWorkerMirroredStrategy()


def has_gpu() -> bool:
    """True when TensorFlow sees at least one GPU."""
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def precision_policy(mixed_precision: bool, gpu: bool | None = None) -> str | None:
    """``'mixed_float16'`` when mixed precision is asked for and a GPU is present, else None.

    On a CPU float16 arithmetic is slower, not faster, so the option is ignored with a
    warning there.
    """
    if not mixed_precision:
        return None
    if not (has_gpu() if gpu is None else gpu):
        log.warning("mixed precision needs a GPU; training in float32 on the CPU")
        return None
    return MIXED_POLICY


def _output_layer_names(config: dict) -> set[str]:
    outputs = config.get("output_layers") or []
    if outputs and isinstance(outputs[0], str):  # a single output is stored flat: [name, node, tensor]
        outputs = [outputs]
    return {entry[0] for entry in outputs}


def _retyped(value, policy: str):
    """A copy of a layer config with every float32 dtype policy (nested layers too) replaced by ``policy``."""
    if isinstance(value, dict):
        if value.get("class_name") == "DTypePolicy" and value.get("config", {}).get("name") == "float32":
            return {**value, "config": {**value["config"], "name": policy}}
        return {key: _retyped(item, policy) for key, item in value.items()}
    if isinstance(value, list):
        return [_retyped(item, policy) for item in value]
    return value


def _synchronized(value):
    """A copy of a model config whose batch normalisations (nested ones too) use the statistics of all replicas."""
    if isinstance(value, dict):
        out = {key: _synchronized(item) for key, item in value.items()}
        if isinstance(out.get("config"), dict) and "synchronized" in out["config"] and "moving_mean_initializer" in out["config"]:
            out["config"] = {**out["config"], "synchronized": True}
        return out
    if isinstance(value, list):
        return [_synchronized(item) for item in value]
    return value


def with_policy(config: dict, policy: str) -> dict:
    """A functional model config whose layers compute in ``policy``, except the output layers.

    The output layers (the sigmoid) and the input stay float32, so probabilities and the
    loss are computed in float32 (Keras' mixed-precision guide).
    """
    keep = _output_layer_names(config)
    config = copy.deepcopy(config)
    config["layers"] = [
        layer if layer["class_name"] == "InputLayer" or layer["name"] in keep else _retyped(layer, policy) for layer in config["layers"]
    ]
    return config


@contextlib.contextmanager
def _global_policy(policy: str | None):
    """Temporarily set Keras' global dtype policy (a functional model takes its own from it)."""
    if policy is None:
        yield
        return
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def training_replica(model: keras.Model, strategy, policy: str | None) -> keras.Model:
    """A copy of functional ``model`` with the same weights, its variables created in ``strategy``'s scope.

    With ``policy`` (e.g. ``'mixed_float16'``) every layer but the outputs computes in that
    policy; variables stay float32, so the weights copy back and forth unchanged. With several
    replicas the batch normalisations are synchronised: they normalise with the moments of the
    global batch and update their moving statistics with them, so a step is the one-device step
    of the global batch and every replica, on every worker, keeps the same statistics.
    """
    config = model.get_config()
    if strategy.num_replicas_in_sync > 1:
        config = _synchronized(config)
    if policy is not None:
        config = with_policy(config, policy)
    with strategy.scope(), _global_policy(policy):
        replica = model.__class__.from_config(config)
        replica.set_weights(model.get_weights())
    return replica


def worker_count(strategy) -> int:
    """How many hosts (workers and a chief) ``strategy`` trains on: 1 unless it is a multi-worker cluster."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return 1
    spec = resolver.cluster_spec()
    return max(1, sum(spec.num_tasks(job) for job in ("chief", "worker") if job in spec.jobs))


def prepare_multiworker_fit(model: keras.Model, strategy, example: tuple) -> None:
    """Let ``model.fit`` run under a ``MultiWorkerMirroredStrategy`` of several workers.

    Keras 3's TensorFlow trainer breaks there in two places (keras-team/keras#20585, open):

    - ``fit`` and ``evaluate`` first reduce one distributed ``(x, y)`` batch across the
      replicas in a single call, only to learn its shapes, and the collective strategy cannot
      reduce a structure in one call ("Attempt to convert a value (PerReplica ...) to a
      Tensor"). Here the model, its metrics and its optimizer are built from the shapes of
      ``example`` (``(x, y)`` arrays) in ``strategy``'s scope instead, and that step is skipped.
    - every step's logs are reduced with ``reduce("MEAN", value, axis=0)``, which fails on the
      scalar loss and metrics. Here each step returns them with a leading axis of length 1, so
      the reduction gives back the mean over the replicas as a scalar.

    Uses Keras' private ``_symbolic_build`` and ``_maybe_symbolic_build``; with one worker it
    does nothing (Keras' own path works there). tests/test_distribute.py trains two workers.
    """
    if worker_count(strategy) < 2:
        return
    with strategy.scope():
        model._symbolic_build(data_batch=example)
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None

    def with_axis(step):
        def wrapped(data):
            return {name: keras.ops.reshape(value, (1,)) if len(value.shape) == 0 else value for name, value in step(data).items()}

        return wrapped

    model.train_step = with_axis(model.train_step)
    model.test_step = with_axis(model.test_step)


__all__ = ["STRATEGIES", "MIXED_POLICY", "check_strategy", "make_strategy", "has_gpu", "precision_policy", "with_policy", "training_replica", "worker_count", "prepare_multiworker_fit"]

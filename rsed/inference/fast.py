"""Fast hop-one sliding ensemble: each step's convolutional embedding computed once, not tau times.

The direct computation (:func:`rsed.inference.sliding.predict_steps` with ``fast=False``) predicts
every window of tau steps, so the per-step convolutions run tau times per step. A trained
CRNN or CNN is a chain of

1. per-step layers (``StepDistributed``/``TimeDistributed``, ``Activation``, ``Dropout``
   which is the identity at inference): a step's output depends on that step alone;
2. recurrent layers (``LSTM``, optionally ``go_backwards``, each optionally followed by
   ``ReverseTime``): outputs depend on the window, since every window's LSTM starts from a
   zero state at the window's own first processed step;
3. per-step layers again (the dense head).

:class:`SlidingEnsemble` runs part 1 once per step together with the first LSTM's input
projection ``x W + b`` (also per step), then the recurrences of all windows as one batch,
each window from a zero state, as Keras computes them (gates i, f, c, o; sigmoid and tanh),
then the head; the window predictions are averaged as before. Same numbers as the direct
path within float32 rounding (``tests/test_inference.py`` checks 1e-5); ``make bench``
measures the speed.

The per-step parts run as compiled TensorFlow functions that read the layers' variables
when called, and the recurrent kernels are read at every call, so a split model never
holds stale weights; :func:`sliding_ensemble` keeps the split (and its compiled functions)
while the model lives, so a run over many clips traces each model's segments once, for every
clip length (the step count is a free dimension).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import weakref
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf
from numba import njit

from ..models.layers import ReverseTime
from .postprocessing import sliding_average

log = logging.getLogger(__name__)


class UnsupportedModel(ValueError):
    """The model is not a chain of per-step layers and LSTMs this module can split."""


@dataclass(frozen=True)
class _Recurrence:
    """One LSTM layer of the chain; ``reverse_after`` when a ReverseTime layer follows it."""

    layer: keras.layers.LSTM
    reverse_after: bool

    @property
    def units(self) -> int:
        return int(self.layer.units)

    @property
    def go_backwards(self) -> bool:
        return bool(self.layer.go_backwards)

    def recurrent_kernel(self) -> np.ndarray:
        """The current recurrent kernel [units, 4 units] (gates i, f, c, o), float32."""
        return np.ascontiguousarray(keras.ops.convert_to_numpy(self.layer.cell.recurrent_kernel), dtype=np.float32)


def _is_per_step(layer) -> bool:
    return isinstance(layer, (keras.layers.TimeDistributed, keras.layers.Activation, keras.layers.Dropout))


def _check_lstm(layer: keras.layers.LSTM) -> None:
    cfg = layer.get_config()
    wanted = {
        "return_sequences": True,
        "return_state": False,
        "stateful": False,
        "activation": "tanh",
        "recurrent_activation": "sigmoid",
        "use_bias": True,
    }
    wrong = {k: cfg.get(k) for k, v in wanted.items() if cfg.get(k) != v}
    if wrong:
        raise UnsupportedModel(f"LSTM {layer.name!r} has unsupported settings {wrong}")


# --------------------------------------------------------------------------------------
# The recurrence: one compiled, vectorised LSTM step for all windows at once
# --------------------------------------------------------------------------------------

_TANH_CLAMP = np.float32(7.90531110763549805)


@njit(fastmath=True, error_model="numpy", inline="always")
def _tanh(x):
    """tanh as a [13/6] rational function on [-7.9, 7.9] (Eigen's, as TensorFlow's CPU kernels
    use), absolute error below 3e-7 in float32; branch-free, so the loops using it vectorise."""
    x = min(max(x, -_TANH_CLAMP), _TANH_CLAMP)
    x2 = x * x
    p = np.float32(-2.76076847742355e-16)
    p = p * x2 + np.float32(2.00018790482477e-13)
    p = p * x2 + np.float32(-8.60467152213735e-11)
    p = p * x2 + np.float32(5.12229709037114e-08)
    p = p * x2 + np.float32(1.48572235717979e-05)
    p = p * x2 + np.float32(6.37261928875436e-04)
    p = p * x2 + np.float32(4.89352455891786e-03)
    q = np.float32(1.19825839466702e-06)
    q = q * x2 + np.float32(1.18534705686654e-04)
    q = q * x2 + np.float32(2.26843463243900e-03)
    q = q * x2 + np.float32(4.89352518554385e-03)
    return x * p / q


@njit(fastmath=True, error_model="numpy", cache=True)
def _lstm_cell(z, x, c, h, units):
    """One LSTM step for a batch of n sequences, all arrays flat and C-ordered: ``z [n, 4u]``
    holds ``h_prev R``, ``x [n, 4u]`` the projected input ``x W + b`` (Keras' gates i, f, c, o);
    updates the cell state ``c [n, u]`` in place and writes the new hidden state to ``h [n, u]``.
    sigmoid(v) = (1 + tanh(v / 2)) / 2. Unsigned indices: numba then skips its negative-index
    handling and LLVM vectorises the inner loop."""
    u = np.uint64(units)
    half = np.float32(0.5)
    n = c.shape[0] // units
    if z.shape[0] != 4 * n * units or x.shape[0] != 4 * n * units or h.shape[0] != n * units:
        raise ValueError("inconsistent LSTM step shapes")
    for w in range(np.uint64(n)):
        row = w * np.uint64(4) * u
        out = w * u
        for j in range(u):
            gi = half + half * _tanh(half * (z[row + j] + x[row + j]))
            gf = half + half * _tanh(half * (z[row + u + j] + x[row + u + j]))
            gc = _tanh(z[row + np.uint64(2) * u + j] + x[row + np.uint64(2) * u + j])
            go = half + half * _tanh(half * (z[row + np.uint64(3) * u + j] + x[row + np.uint64(3) * u + j]))
            cell = gf * c[out + j] + gi * gc
            c[out + j] = cell
            h[out + j] = go * _tanh(cell)


def _lstm_scan(projected_at, n_windows: int, tau: int, units: int, go_backwards: bool, reverse_after: bool, recurrent_kernel: np.ndarray) -> np.ndarray:
    """Run one LSTM over ``n_windows`` windows of ``tau`` steps, each from a zero state.

    ``projected_at(t)`` gives ``x_t W + b``, a C-contiguous [n_windows, 4 units] float32 array,
    for window position t. Returns the outputs time-major, [tau, n_windows, units]: index j
    holds Keras' j-th output (after the j-th processed position, which is ``tau - 1 - j`` when
    going backwards), or index ``tau - 1 - j`` does when a ReverseTime follows.
    """
    c = np.zeros(n_windows * units, np.float32)
    out = np.empty((tau, n_windows, units), np.float32)
    z = np.empty((n_windows, 4 * units), np.float32)
    h = np.zeros((n_windows, units), np.float32)
    for k in range(tau):
        np.matmul(h, recurrent_kernel, out=z)
        h = out[tau - 1 - k if reverse_after else k]
        x = np.ascontiguousarray(projected_at(tau - 1 - k if go_backwards else k), dtype=np.float32)
        _lstm_cell(z.reshape(-1), x.reshape(-1), c, h.reshape(-1), units)
    return out


# --------------------------------------------------------------------------------------
# Per-step segments: compiled TensorFlow functions over steps folded into the batch
# --------------------------------------------------------------------------------------


def _inner(layer):
    return layer.layer if isinstance(layer, keras.layers.TimeDistributed) else layer


def _foldable(layer, following) -> bool:
    """A linear Conv2D or Dense whose output goes straight into a last-axis BatchNormalization."""
    inner, bn = _inner(layer), _inner(following) if following is not None else None
    if not isinstance(inner, (keras.layers.Conv2D, keras.layers.Dense)) or not isinstance(bn, keras.layers.BatchNormalization):
        return False
    rank = bn.input_spec.ndim if bn.input_spec is not None else None
    return (
        inner.get_config().get("activation") == "linear"
        and getattr(inner, "data_format", "channels_last") == "channels_last"
        and rank is not None
        and bn.axis in (-1, rank - 1)
    )


def _folded(layer, following, t):
    """``BN(layer(t))`` at inference as one product: weights times ``gamma / sqrt(var + eps)``
    plus a shift (the same function; saves the normalisation's passes over large tensors)."""
    inner, bn = _inner(layer), _inner(following)
    scale = tf.math.rsqrt(bn.moving_variance + bn.epsilon)
    if bn.scale:
        scale = scale * bn.gamma
    shift = -bn.moving_mean * scale
    if bn.center:
        shift = shift + bn.beta
    if inner.use_bias:
        shift = shift + inner.bias * scale
    if isinstance(inner, keras.layers.Conv2D):
        return inner.convolution_op(t, inner.kernel * scale) + shift
    return tf.matmul(t, inner.kernel * scale) + shift


def _apply(layers: list, t):
    """Per-step layers on steps folded into the batch (inference mode; dropout is the identity)."""
    index = 0
    while index < len(layers):
        layer = layers[index]
        following = layers[index + 1] if index + 1 < len(layers) else None
        if _foldable(layer, following):
            t = _folded(layer, following, t)
            index += 2
            continue
        if isinstance(layer, keras.layers.TimeDistributed):
            t = layer.layer(t, training=False)
        elif not isinstance(layer, keras.layers.Dropout):
            t = layer(t, training=False)
        index += 1
    return t


def _segment(layers: list, step_shape: tuple, projection: keras.layers.LSTM | None):
    """Compiled ``[N, *step_shape] -> [N, width]`` for any ``N``: the layers, flattened per step,
    then the input projection ``x W + b`` of the LSTM that follows (when one does)."""

    def run(x):
        t = _apply(layers, x)
        t = tf.reshape(t, (tf.shape(t)[0], -1))
        if projection is not None:
            t = tf.matmul(t, projection.cell.kernel) + projection.cell.bias
        return t

    # Traced once here, for any number of steps, and called as the concrete function: each model's
    # segments are traced exactly once, and calls never go through tf.function's retracing check
    # (which counts the traces of every function built from this code together and warned about
    # "retracing" after a few models).
    function = tf.function(run, input_signature=[tf.TensorSpec((None, *step_shape), tf.float32)])
    return function.get_concrete_function()


class SlidingEnsemble:
    """A trained window model split into per-step and per-window parts (see the module doc).

    ``SlidingEnsemble(model)(steps [S, F, M]) -> probs [S]``, the mean prediction of every
    hop-one window covering each step. Raises :class:`UnsupportedModel` for a model that is
    not such a chain (the caller then uses the direct computation).
    """

    def __init__(self, model: keras.Model):
        if len(model.inputs) != 1 or len(model.outputs) != 1:
            raise UnsupportedModel("the model must have one input and one output")
        self.tau = int(model.input_shape[1])
        layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
        previous = model.inputs[0]
        for layer in layers:  # a plain chain: each layer consumes the previous one's output, once
            try:
                chained = layer.input is previous
            except (AttributeError, ValueError):  # a layer called more than once
                chained = False
            if not chained:
                raise UnsupportedModel(f"layer {layer.name!r} is not part of a single chain")
            if layer.dtype_policy.compute_dtype != "float32":
                raise UnsupportedModel(f"layer {layer.name!r} computes in {layer.dtype_policy.compute_dtype}")
            previous = layer.output
        self.recurrences: list[_Recurrence] = []
        groups: list[list] = [[]]  # per-step layers before, between and after the LSTMs
        for index, layer in enumerate(layers):
            if isinstance(layer, keras.layers.LSTM):
                _check_lstm(layer)
                following = layers[index + 1] if index + 1 < len(layers) else None
                self.recurrences.append(_Recurrence(layer, reverse_after=isinstance(following, ReverseTime)))
                groups.append([])
            elif isinstance(layer, ReverseTime):
                if index == 0 or not isinstance(layers[index - 1], keras.layers.LSTM):
                    raise UnsupportedModel(f"ReverseTime {layer.name!r} does not directly follow an LSTM")
            elif _is_per_step(layer):
                groups[-1].append(layer)
            else:
                raise UnsupportedModel(f"layer {layer.name!r} ({type(layer).__name__}) is neither per-step nor an LSTM")
        if int(np.prod(model.output_shape[2:])) != 1:
            raise UnsupportedModel(f"expected one output per step, got output shape {model.output_shape}")
        self._step_shape = tuple(model.input_shape[2:])
        step_shapes = [self._step_shape] + [(rec.units,) for rec in self.recurrences]
        following = [rec.layer for rec in self.recurrences] + [None]
        # segment i: the per-step layers after recurrence i (before the first one for i = 0),
        # projected by the next LSTM's input kernel
        self._segments = [_segment(g, shape, nxt) for g, shape, nxt in zip(groups, step_shapes, following, strict=True)]

    def window_probabilities(self, steps: np.ndarray, batch_size: int = 512) -> np.ndarray:
        """Predictions of every hop-one window: ``steps [S, F, M] -> [max(S - tau + 1, 1), tau]``.

        A clip shorter than tau is padded by repeating its last step, as
        :func:`rsed.features.windows.sliding_windows` does; ``batch_size`` bounds the steps or windows
        handled at once. The same as :meth:`windows` of :meth:`embed`.
        """
        return self.windows(self.embed(steps, batch_size), batch_size)

    def embed(self, steps: np.ndarray, batch_size: int = 512) -> np.ndarray:
        """The per-step part: ``steps [S, F, M] -> [S, width]``, each step's projected embedding
        (the first LSTM's ``x W + b``, width 4 units), or its prediction (width 1) without recurrence.

        A step's row depends on that step alone, so a stream computes each row once
        (:mod:`rsed.inference.monitor`).
        """
        steps = np.asarray(steps)
        if steps.ndim != 3 or steps.shape[0] == 0:
            raise ValueError(f"steps must be a non-empty [S, F, M] array, got shape {steps.shape}")
        steps = steps.reshape(steps.shape[0], *self._step_shape)  # [S, F, M] -> [S, F, M, 1], the model's step
        return np.concatenate([self._run(0, steps[start : start + batch_size]) for start in range(0, steps.shape[0], batch_size)])

    def recurrent_kernels(self) -> list[np.ndarray]:
        """The current recurrent kernels of the LSTMs, for :meth:`windows` (read at each call otherwise)."""
        return [rec.recurrent_kernel() for rec in self.recurrences]

    def windows(self, per_step: np.ndarray, batch_size: int = 512, kernels: list[np.ndarray] | None = None) -> np.ndarray:
        """The per-window part: rows of :meth:`embed` ``[S, width] -> [max(S - tau + 1, 1), tau]``,
        the predictions of every hop-one window over them (fewer than tau rows: padded by
        repeating the last, as :meth:`window_probabilities`). ``kernels``: the
        :meth:`recurrent_kernels` read once by a caller that calls often with fixed weights."""
        tau = self.tau
        if per_step.shape[0] < tau:
            per_step = np.concatenate([per_step, np.repeat(per_step[-1:], tau - per_step.shape[0], axis=0)])
        n_windows = per_step.shape[0] - tau + 1
        if not self.recurrences:  # every layer per step: a step's prediction is the same in every window
            return np.lib.stride_tricks.sliding_window_view(per_step[:, 0], tau).copy()
        kernels = self.recurrent_kernels() if kernels is None else kernels
        out = []
        for w0 in range(0, n_windows, batch_size):
            n = min(batch_size, n_windows - w0)
            x = self._scan(0, lambda t, w0=w0, n=n: per_step[w0 + t : w0 + t + n], n, kernels[0])  # (tau, n, units)
            for index in range(1, len(self.recurrences)):
                projected = self._run(index, x.reshape(tau * n, -1)).reshape(tau, n, -1)  # time-major
                x = self._scan(index, lambda t, p=projected: p[t], n, kernels[index])
            probs = self._run(len(self.recurrences), x.reshape(tau * n, -1))  # (tau * n, 1)
            out.append(probs.reshape(tau, n).T)
        return np.ascontiguousarray(np.concatenate(out, axis=0))

    def _run(self, index: int, x: np.ndarray) -> np.ndarray:
        return self._segments[index](np.ascontiguousarray(x, dtype=np.float32)).numpy()

    def _scan(self, index: int, projected_at, n: int, recurrent_kernel: np.ndarray) -> np.ndarray:
        rec = self.recurrences[index]
        return _lstm_scan(projected_at, n, self.tau, rec.units, rec.go_backwards, rec.reverse_after, recurrent_kernel)

    def __call__(self, steps: np.ndarray, batch_size: int = 512) -> np.ndarray:
        """The sliding ensemble ``steps [S, F, M] -> probs [S]`` (float64, like the direct path)."""
        with one_blas_thread():
            windows = self.window_probabilities(steps, batch_size)
        return sliding_average(windows, np.asarray(steps).shape[0])


def one_blas_thread():
    """numpy's BLAS on one thread: its small products gain nothing from threads, and its
    thread pool competing with TensorFlow's for the cores made the recurrences 10x slower."""
    controller = _blas_controller()
    return contextlib.nullcontext() if controller is None else controller.limit(limits=1, user_api="blas")


@functools.lru_cache(maxsize=1)
def _blas_controller():
    """threadpoolctl's view of the loaded BLAS libraries, found once (finding them takes ~10 ms)."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return None
    return ThreadpoolController()


#: The split of each live model (None: cannot be split), so that a run over many clips
#: parses and traces a model once. Holds no weights (see the module doc); entries go with
#: their models.
_SPLITS: "weakref.WeakKeyDictionary[keras.Model, SlidingEnsemble | None]" = weakref.WeakKeyDictionary()


def sliding_ensemble(model: keras.Model) -> SlidingEnsemble | None:
    """:class:`SlidingEnsemble` of ``model``, or None (logged once) when the model cannot be split."""
    try:
        return _SPLITS[model]
    except KeyError:
        pass
    try:
        split = SlidingEnsemble(model)
    except UnsupportedModel as exc:
        log.info("direct sliding ensemble for %s: %s", model.name, exc)
        split = None
    _SPLITS[model] = split
    return split

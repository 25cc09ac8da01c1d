"""Fast hop-one sliding ensemble: each step's convolutional embedding computed once, not tau times.

The direct computation (:func:`rsed.inference.predict_steps` with ``fast=False``) predicts
every window of tau steps, so the per-step convolutions run tau times per step. A trained
CRNN or CNN is a chain of

1. per-step layers (``StepDistributed``/``TimeDistributed``, ``Activation``, ``Dropout``
   which is the identity at inference): a step's output depends on that step alone;
2. recurrent layers (``LSTM``, optionally ``go_backwards``, each optionally followed by
   ``ReverseTime``): outputs depend on the window, since every window's LSTM starts from a
   zero state at the window's own first processed step;
3. per-step layers again (the dense head).

:class:`SlidingEnsemble` runs part 1 once per step (with the first LSTM's input projection
``x W + b``, also per step), then the recurrences of all windows as one batch, started from
zero per window, exactly as Keras computes them (Keras gate order i, f, c, o), then the head; the
window predictions are averaged as before. Same numbers as the direct path within float32
rounding (``tests/test_inference.py`` checks 1e-5), about 10-20x faster at tau = 50.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

import keras
import numpy as np
from numba import njit

from .layers import ReverseTime
from .postprocessing import sliding_average

log = logging.getLogger(__name__)


class UnsupportedModel(ValueError):
    """The model is not a chain of per-step layers and LSTMs this module can split."""


@dataclass(frozen=True)
class _Recurrence:
    """One LSTM layer's weights, gate columns reordered to i, f, o, c (Keras: i, f, c, o) so
    that the three sigmoid gates are one block; ``reverse_after`` when a ReverseTime follows."""

    kernel: np.ndarray  # (input_dim, 4 units)
    recurrent_kernel: np.ndarray  # (units, 4 units)
    bias: np.ndarray  # (4 units,)
    go_backwards: bool
    reverse_after: bool

    @property
    def units(self) -> int:
        return self.recurrent_kernel.shape[0]

    @classmethod
    def of(cls, layer: keras.layers.LSTM, reverse_after: bool) -> "_Recurrence":
        units = int(layer.units)
        order = np.concatenate([np.arange(0, 2 * units), np.arange(3 * units, 4 * units), np.arange(2 * units, 3 * units)])
        kernel, recurrent, bias = (
            np.ascontiguousarray(keras.ops.convert_to_numpy(w)[..., order], dtype=np.float32)
            for w in (layer.cell.kernel, layer.cell.recurrent_kernel, layer.cell.bias)
        )
        return cls(kernel, recurrent, bias, bool(layer.go_backwards), reverse_after)


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
    holds ``h_prev R``, ``x [n, 4u]`` the projected input ``x W + b`` (gates i, f, o, c);
    updates the cell state ``c [n, u]`` in place and writes the new hidden state to ``h [n, u]``.
    sigmoid(v) = (1 + tanh(v / 2)) / 2."""
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
            go = half + half * _tanh(half * (z[row + np.uint64(2) * u + j] + x[row + np.uint64(2) * u + j]))
            gc = _tanh(z[row + np.uint64(3) * u + j] + x[row + np.uint64(3) * u + j])
            cell = gf * c[out + j] + gi * gc
            c[out + j] = cell
            h[out + j] = go * _tanh(cell)


def _lstm_scan(projected_at, n_windows: int, tau: int, rec: _Recurrence) -> np.ndarray:
    """Run one LSTM over ``n_windows`` windows of ``tau`` steps from zero states.

    ``projected_at(t)`` gives ``x_t W + b``, a C-contiguous [n_windows, 4 units] array, for
    window position t. Returns the outputs time-major, [tau, n_windows, units], index j
    holding Keras' j-th output (the j-th processed position, ``tau - 1 - j`` when going
    backwards), or the flipped order when a ReverseTime follows.
    """
    units = rec.units
    c = np.zeros(n_windows * units, np.float32)
    out = np.empty((tau, n_windows, units), np.float32)
    z = np.empty((n_windows, 4 * units), np.float32)
    h = np.zeros((n_windows, units), np.float32)
    for k in range(tau):
        t = tau - 1 - k if rec.go_backwards else k
        np.matmul(h, rec.recurrent_kernel, out=z)
        h = out[tau - 1 - k if rec.reverse_after else k]
        _lstm_cell(z.reshape(-1), projected_at(t).reshape(-1), c, h.reshape(-1), units)
    return out


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
        for layer in layers:  # a plain chain: each layer consumes the previous one's output
            if layer.input is not previous:
                raise UnsupportedModel(f"layer {layer.name!r} is not part of a single chain")
            previous = layer.output
        self.prefix: list = []  # per-step layers before the first LSTM
        self.recurrences: list[_Recurrence] = []
        self.between: list[list] = []  # per-step layers after each recurrence (the last: the head)
        for index, layer in enumerate(layers):
            if isinstance(layer, keras.layers.LSTM):
                _check_lstm(layer)
                following = layers[index + 1] if index + 1 < len(layers) else None
                self.recurrences.append(_Recurrence.of(layer, reverse_after=isinstance(following, ReverseTime)))
                self.between.append([])
            elif isinstance(layer, ReverseTime):
                if index == 0 or not isinstance(layers[index - 1], keras.layers.LSTM):
                    raise UnsupportedModel(f"ReverseTime {layer.name!r} does not directly follow an LSTM")
            elif _is_per_step(layer):
                (self.between[-1] if self.recurrences else self.prefix).append(layer)
            else:
                raise UnsupportedModel(f"layer {layer.name!r} ({type(layer).__name__}) is neither per-step nor an LSTM")

    # ----------------------------------------------------------------------------------

    @staticmethod
    def _per_step(layers: list, x: np.ndarray) -> np.ndarray:
        """Apply per-step layers to steps folded into the batch: ``[N, *step] -> [N, *out]`` float32."""
        t = x
        for layer in layers:
            if isinstance(layer, keras.layers.Dropout):
                continue  # the identity at inference
            if isinstance(layer, keras.layers.TimeDistributed):
                t = layer.layer(t, training=False)
            else:
                t = layer(t, training=False)
        return np.asarray(keras.ops.convert_to_numpy(t), dtype=np.float32)

    def embeddings(self, steps: np.ndarray, batch_size: int = 512) -> np.ndarray:
        """Per-step part of the model on each step once: ``[S, F, M] -> [S, *embedding]``."""
        out = []
        for start in range(0, steps.shape[0], batch_size):
            chunk = np.ascontiguousarray(steps[start : start + batch_size], dtype=np.float32)[..., None]
            out.append(self._per_step(self.prefix, chunk))
        return np.concatenate(out, axis=0)

    def window_probabilities(self, steps: np.ndarray, batch_size: int = 512) -> np.ndarray:
        """Predictions of every hop-one window: ``steps [S, F, M] -> [max(S - tau + 1, 1), tau]``.

        A clip shorter than tau is padded by repeating its last step, as
        :func:`rsed.windows.sliding_windows` does.
        """
        steps = np.asarray(steps)
        if steps.ndim != 3 or steps.shape[0] == 0:
            raise ValueError(f"steps must be a non-empty [S, F, M] array, got shape {steps.shape}")
        tau = self.tau
        emb = self.embeddings(steps, batch_size)  # (S, D)
        if emb.shape[0] < tau:
            emb = np.concatenate([emb, np.repeat(emb[-1:], tau - emb.shape[0], axis=0)], axis=0)
        n_windows = emb.shape[0] - tau + 1
        if not self.recurrences:  # every layer per step: a step's prediction is the same in every window
            probs = emb.reshape(emb.shape[0], -1)[:, 0]
            return np.lib.stride_tricks.sliding_window_view(probs, tau).copy()
        first = self.recurrences[0]
        projected = emb.reshape(emb.shape[0], -1) @ first.kernel + first.bias  # (S_padded, 4 units), once per step
        out = []
        for w0 in range(0, n_windows, batch_size):
            n = min(batch_size, n_windows - w0)
            x = _lstm_scan(lambda t, w0=w0, n=n: projected[w0 + t : w0 + t + n], n, tau, first)  # (tau, n, units)
            out.append(self._after_recurrence(x, 0))
        return np.concatenate(out, axis=0)

    def _after_recurrence(self, x: np.ndarray, done: int) -> np.ndarray:
        """From the time-major output [tau, n, units] of recurrence ``done`` to the window predictions [n, tau]."""
        tau, n = x.shape[:2]
        for index in range(done, len(self.recurrences)):
            folded = x.reshape(tau * n, *x.shape[2:])
            if self.between[index]:
                folded = self._per_step(self.between[index], folded)
            x = folded.reshape(tau, n, *folded.shape[1:])
            if index + 1 < len(self.recurrences):
                rec = self.recurrences[index + 1]
                projected = (x.reshape(tau * n, -1) @ rec.kernel + rec.bias).reshape(tau, n, -1)  # time-major: [t] contiguous
                x = _lstm_scan(lambda t, p=projected: p[t], n, tau, rec)
        return np.ascontiguousarray(x.reshape(tau, n, -1)[..., 0].T)

    def __call__(self, steps: np.ndarray, batch_size: int = 512) -> np.ndarray:
        """The sliding ensemble ``steps [S, F, M] -> probs [S]`` (float64, like the direct path)."""
        with _one_blas_thread():
            windows = self.window_probabilities(steps, batch_size)
        return sliding_average(windows, np.asarray(steps).shape[0])


def _one_blas_thread():
    """numpy's BLAS on one thread: its small products gain nothing from threads, and its
    thread pool competing with TensorFlow's for the cores made the recurrences 10x slower."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def sliding_ensemble(model: keras.Model) -> SlidingEnsemble | None:
    """:class:`SlidingEnsemble` of ``model``, or None (logged) when the model cannot be split."""
    try:
        return SlidingEnsemble(model)
    except UnsupportedModel as exc:
        log.info("direct sliding ensemble for %s: %s", model.name, exc)
        return None

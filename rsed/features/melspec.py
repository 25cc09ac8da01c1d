"""Mel power spectrogram on one core, compiled with numba: the fast path of :func:`rsed.features.logmel`.

librosa (and scipy's FFT) transform one frame at a time with 4-wide SIMD. Here ``LANES``
frames are transformed together, one frame per SIMD lane, so every butterfly runs on whole
AVX vectors without shuffles: a radix-4 Stockham FFT of the half-length complex sequence
``z[j] = x[2j] + i x[2j + 1]`` (the standard real-FFT packing), the split into the real
spectrum and its power, then the sparse Slaney mel product (a mel band touches only the few
FFT bins under its triangle). The result equals librosa's ``melspectrogram`` within float32
rounding; the tests and ``benchmarks/bench_features.py`` compare the two.

Data layout inside a batch: complex spectra ``[point][re, im][lane]`` float32, power
``[bin][lane]``; the signal is first transposed into a tile ``[sample in hop][hop block]`` so
that the lanes of every read are contiguous.
"""

from __future__ import annotations

import functools

import numpy as np
from numba import njit

#: Frames transformed together. 128 keeps the per-loop overhead small against the vector
#: work (measured on AVX-512: 32 -> 9.3 ms, 64 -> 6.6 ms, 128 -> 6.1 ms per 30 s clip).
LANES = 128

_U = np.uint64  # unsigned indices: numba skips its negative-index wraparound, so LLVM vectorises
_L = LANES
_L2 = 2 * LANES


def supported(n_fft: int, power: float) -> bool:
    """True when this module computes the spectrogram: ``n_fft`` a power of two >= 8, power 2."""
    return power == 2.0 and n_fft >= 8 and (n_fft & (n_fft - 1)) == 0


#: A tile larger than this (bytes) is filled in blocks of columns and rows: at hop 1024 the plain
#: column-by-column transpose cost 0.14 ms a batch, the blocked one 0.07 ms; at hop 512 the plain
#: one is faster (0.02 against 0.035 ms).
_BLOCKED_TILE_BYTES = 300_000
_TILE_COLS, _TILE_ROWS = 32, 128


@njit(fastmath=True, boundscheck=False, cache=True)
def _fill_columns(y, offset, f0, hop, cols, tile, c0, c1, r0, r1):
    """Columns ``c0..c1-1``, rows ``r0..r1-1`` of the tile; samples outside ``y`` are zeros."""
    n = y.shape[0]
    for c in range(c0, c1):
        base = (f0 + c) * hop - offset
        if base + r0 >= 0 and base + r1 <= n:
            for r in range(r0, r1):
                tile[_U(r) * _U(cols) + _U(c)] = y[base + r]
        else:
            for r in range(r0, r1):
                i = base + r
                tile[_U(r) * _U(cols) + _U(c)] = y[i] if 0 <= i < n else np.float32(0.0)


@njit(fastmath=True, boundscheck=False, cache=True)
def _fill_tile(y, offset, f0, hop, cols, tile):
    """``tile[r, c] = yp[(f0 + c) * hop + r]``, sample r of hop block c, where ``yp`` is ``y`` with
    ``offset`` zeros before it and zeros after it (librosa's centred frames), never built."""
    if hop * cols * 4 <= _BLOCKED_TILE_BYTES:
        _fill_columns(y, offset, f0, hop, cols, tile, 0, cols, 0, hop)
        return
    for c0 in range(0, cols, _TILE_COLS):
        for r0 in range(0, hop, _TILE_ROWS):
            _fill_columns(y, offset, f0, hop, cols, tile, c0, min(c0 + _TILE_COLS, cols), r0, min(r0 + _TILE_ROWS, hop))


@njit(fastmath=True, boundscheck=False, cache=True)
def _first_stage(tile, cols, window, hop, dst, tw, m):
    """First radix-4 stage (stride 1) reading the windowed, packed frames straight from the tile.

    Point j of the packed sequence of lane b is ``x[2j] + i x[2j + 1]`` with
    ``x[n] = window[n] * tile[n % hop, b + n // hop]``.
    """
    for p in range(m):
        w1r = tw[p, 0]
        w1i = tw[p, 1]
        w2r = tw[p, 2]
        w2i = tw[p, 3]
        w3r = tw[p, 4]
        w3i = tw[p, 5]
        n0 = 2 * p
        n1 = 2 * (p + m)
        n2 = 2 * (p + 2 * m)
        n3 = 2 * (p + 3 * m)
        ia = _U((n0 % hop) * cols + n0 // hop)
        ja = _U(((n0 + 1) % hop) * cols + (n0 + 1) // hop)
        ib = _U((n1 % hop) * cols + n1 // hop)
        jb = _U(((n1 + 1) % hop) * cols + (n1 + 1) // hop)
        ic = _U((n2 % hop) * cols + n2 // hop)
        jc = _U(((n2 + 1) % hop) * cols + (n2 + 1) // hop)
        id_ = _U((n3 % hop) * cols + n3 // hop)
        jd = _U(((n3 + 1) % hop) * cols + (n3 + 1) // hop)
        wa = window[n0]
        va = window[n0 + 1]
        wb = window[n1]
        vb = window[n1 + 1]
        wc = window[n2]
        vc = window[n2 + 1]
        wd = window[n3]
        vd = window[n3 + 1]
        o0 = _U(4 * p) * _U(_L2)
        o1 = o0 + _U(_L2)
        o2 = o1 + _U(_L2)
        o3 = o2 + _U(_L2)
        for b in range(_U(_L)):
            a_r = tile[ia + b] * wa
            a_i = tile[ja + b] * va
            b_r = tile[ib + b] * wb
            b_i = tile[jb + b] * vb
            c_r = tile[ic + b] * wc
            c_i = tile[jc + b] * vc
            d_r = tile[id_ + b] * wd
            d_i = tile[jd + b] * vd
            apc_r = a_r + c_r
            apc_i = a_i + c_i
            amc_r = a_r - c_r
            amc_i = a_i - c_i
            bpd_r = b_r + d_r
            bpd_i = b_i + d_i
            bmd_r = b_r - d_r
            bmd_i = b_i - d_i
            dst[o0 + b] = apc_r + bpd_r
            dst[o0 + _U(_L) + b] = apc_i + bpd_i
            t1r = amc_r + bmd_i  # (a - c) - i (b - d)
            t1i = amc_i - bmd_r
            dst[o1 + b] = w1r * t1r - w1i * t1i
            dst[o1 + _U(_L) + b] = w1r * t1i + w1i * t1r
            t2r = apc_r - bpd_r
            t2i = apc_i - bpd_i
            dst[o2 + b] = w2r * t2r - w2i * t2i
            dst[o2 + _U(_L) + b] = w2r * t2i + w2i * t2r
            t3r = amc_r - bmd_i  # (a - c) + i (b - d)
            t3i = amc_i + bmd_r
            dst[o3 + b] = w3r * t3r - w3i * t3i
            dst[o3 + _U(_L) + b] = w3r * t3i + w3i * t3r


@njit(fastmath=True, boundscheck=False, cache=True)
def _stage4(src, dst, tw, m, s):
    """Radix-4 Stockham decimation-in-frequency stage: ``s`` interleaved sequences of ``4 m`` points.

    ``dst[q + s (4p + t)] = w^(p t) * sum_l src[q + s (p + l m)] (-i)^(l t)``, w = exp(-2 pi i / 4m).
    """
    step = _U(s * m) * _U(_L2)
    so = _U(s) * _U(_L2)
    for p in range(m):
        w1r = tw[p, 0]
        w1i = tw[p, 1]
        w2r = tw[p, 2]
        w2i = tw[p, 3]
        w3r = tw[p, 4]
        w3i = tw[p, 5]
        for q in range(s):
            i0 = _U(q + s * p) * _U(_L2)
            i1 = i0 + step
            i2 = i1 + step
            i3 = i2 + step
            o0 = _U(q + 4 * s * p) * _U(_L2)
            o1 = o0 + so
            o2 = o1 + so
            o3 = o2 + so
            for b in range(_U(_L)):
                a_r = src[i0 + b]
                a_i = src[i0 + _U(_L) + b]
                b_r = src[i1 + b]
                b_i = src[i1 + _U(_L) + b]
                c_r = src[i2 + b]
                c_i = src[i2 + _U(_L) + b]
                d_r = src[i3 + b]
                d_i = src[i3 + _U(_L) + b]
                apc_r = a_r + c_r
                apc_i = a_i + c_i
                amc_r = a_r - c_r
                amc_i = a_i - c_i
                bpd_r = b_r + d_r
                bpd_i = b_i + d_i
                bmd_r = b_r - d_r
                bmd_i = b_i - d_i
                dst[o0 + b] = apc_r + bpd_r
                dst[o0 + _U(_L) + b] = apc_i + bpd_i
                t1r = amc_r + bmd_i
                t1i = amc_i - bmd_r
                dst[o1 + b] = w1r * t1r - w1i * t1i
                dst[o1 + _U(_L) + b] = w1r * t1i + w1i * t1r
                t2r = apc_r - bpd_r
                t2i = apc_i - bpd_i
                dst[o2 + b] = w2r * t2r - w2i * t2i
                dst[o2 + _U(_L) + b] = w2r * t2i + w2i * t2r
                t3r = amc_r - bmd_i
                t3i = amc_i + bmd_r
                dst[o3 + b] = w3r * t3r - w3i * t3i
                dst[o3 + _U(_L) + b] = w3r * t3i + w3i * t3r


@njit(fastmath=True, boundscheck=False, cache=True)
def _stage2(src, dst, s):
    """Last stage when the length is 2 * 4^k: ``s`` sequences of 2 points (p = 0, no twiddles).

    ``dst[q + s t] = src[q] + (-1)^t src[q + s]``.
    """
    for q in range(s):
        i0 = _U(q) * _U(_L2)
        i1 = _U(q + s) * _U(_L2)
        for b in range(_U(_L2)):  # real and imaginary parts alike
            a = src[i0 + b]
            c = src[i1 + b]
            dst[i0 + b] = a + c
            dst[i1 + b] = a - c


@njit(fastmath=True, boundscheck=False, cache=True)
def _power(z, post, power, half):
    """Power spectrum ``|X[k]|^2`` for k = 0..half from the packed spectrum ``Z`` (length half).

    ``X[k] = E + exp(-2 pi i k / n_fft) O`` with ``E = (Z[k] + conj Z[half-k]) / 2`` and
    ``O = (Z[k] - conj Z[half-k]) / 2i`` (indices modulo half).
    """
    h = np.float32(0.5)
    for k in range(half + 1):
        ik = _U(k % half) * _U(_L2)
        ij = _U((half - k) % half) * _U(_L2)
        cr = post[k, 0]
        ci = post[k, 1]
        ok = _U(k) * _U(_L)
        for b in range(_U(_L)):
            zkr = z[ik + b]
            zki = z[ik + _U(_L) + b]
            zjr = z[ij + b]
            zji = z[ij + _U(_L) + b]
            er = h * (zkr + zjr)
            ei = h * (zki - zji)
            orr = h * (zki + zji)
            oi = h * (zjr - zkr)
            xr = er + cr * orr - ci * oi
            xi = ei + cr * oi + ci * orr
            power[ok + b] = xr * xr + xi * xi


@njit(fastmath=True, boundscheck=False, cache=True)
def _mel(power, starts, bins, weights, acc, out, f0, valid):
    """``out[f0 + b, m] = sum_k W[m, k] power[k, b]`` over the nonzero weights (CSR by band)."""
    n_mels = starts.shape[0] - 1
    for band in range(n_mels):
        for b in range(_U(_L)):
            acc[b] = 0.0
        for e in range(starts[band], starts[band + 1]):
            w = weights[e]
            base = _U(bins[e]) * _U(_L)
            for b in range(_U(_L)):
                acc[b] += w * power[base + b]
        for b in range(valid):
            out[f0 + b, band] = acc[b]


@njit(boundscheck=False, cache=True)
def _mel_power(y, window, hop, n_frames, tw, stage_m, stage_s, radix2, post, starts, bins, weights, out):
    """Mel power of frames ``0..n_frames-1`` (frame f = ``yp[f hop : f hop + n_fft] * window``, ``yp`` the
    signal ``y`` centred: n_fft / 2 zeros before it, zeros after) into ``out``."""
    n_fft = window.shape[0]
    half = n_fft // 2
    buf_a = np.empty(half * _L2, np.float32)
    buf_b = np.empty(half * _L2, np.float32)
    power = np.empty((half + 1) * _L, np.float32)
    cols = _L + (n_fft - 1) // hop
    tile = np.empty(hop * cols, np.float32)
    acc = np.empty(_L, np.float32)
    for f0 in range(0, n_frames, _L):
        _fill_tile(y, half, f0, hop, cols, tile)
        m0 = stage_m[0]
        _first_stage(tile, cols, window, hop, buf_a, tw[0:m0], m0)
        src = buf_a
        dst = buf_b
        off = m0
        for st in range(1, stage_m.shape[0]):
            m = stage_m[st]
            _stage4(src, dst, tw[off : off + m], m, stage_s[st])
            off += m
            src, dst = dst, src
        if radix2:
            _stage2(src, dst, half // 2)
            src, dst = dst, src
        _power(src, post, power, half)
        _mel(power, starts, bins, weights, acc, out, f0, min(_L, n_frames - f0))


@functools.lru_cache(maxsize=16)
def _plan(n_fft: int, mel_key: tuple) -> tuple:
    """Twiddles, stage sizes, the real-FFT post-twiddles, the Hann window and the CSR mel matrix."""
    import librosa

    sample_rate, n_mels, fmin, fmax = mel_key
    half = n_fft // 2
    tws, stage_m, stage_s = [], [], []
    n, s = half, 1
    while n % 4 == 0:
        m = n // 4
        w = np.exp(-2j * np.pi * np.arange(m) / n)
        tws.append(np.stack([w.real, w.imag, (w**2).real, (w**2).imag, (w**3).real, (w**3).imag], axis=1))
        stage_m.append(m)
        stage_s.append(s)
        n, s = m, 4 * s
    radix2 = n == 2
    if n not in (1, 2) or not stage_m:
        raise ValueError(f"n_fft {n_fft} is not supported by the compiled path")
    tw = np.ascontiguousarray(np.concatenate(tws), dtype=np.float32)
    post = np.exp(-2j * np.pi * np.arange(half + 1) / n_fft)
    post = np.ascontiguousarray(np.stack([post.real, post.imag], axis=1), dtype=np.float32)
    basis = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)  # [n_mels, half + 1]
    starts = np.zeros(n_mels + 1, np.int64)
    bins, weights = [], []
    for band in range(n_mels):
        nz = np.flatnonzero(basis[band])
        bins.append(nz)
        weights.append(basis[band, nz])
        starts[band + 1] = starts[band] + nz.size
    bins = np.concatenate(bins).astype(np.int64)
    weights = np.concatenate(weights).astype(np.float32)
    window = librosa.filters.get_window("hann", n_fft, fftbins=True).astype(np.float32)
    arrays = (window, tw, np.array(stage_m, np.int64), np.array(stage_s, np.int64), post, starts, bins, weights)
    for a in arrays:
        a.setflags(write=False)
    return arrays + (radix2,)


def mel_power(y: np.ndarray, *, sample_rate: int, n_fft: int, hop_length: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """Mel power spectrogram ``[1 + n // hop_length, n_mels]`` float32 of a float32 signal ``y [n]``.

    librosa's definition: centred frames with zero padding, periodic Hann window, power 2,
    Slaney mel filters. Requires :func:`supported` ``(n_fft, 2.0)``.
    """
    if not supported(n_fft, 2.0):
        raise ValueError(f"n_fft {n_fft} is not supported by the compiled path (a power of two >= 8)")
    y = np.ascontiguousarray(y, dtype=np.float32)
    window, tw, stage_m, stage_s, post, starts, bins, weights, radix2 = _plan(n_fft, (sample_rate, n_mels, float(fmin), float(fmax)))
    n_frames = 1 + y.size // hop_length
    out = np.empty((n_frames, n_mels), np.float32)
    # every batch reads LANES whole frames; samples before the signal and past its end read as zeros
    _mel_power(y, window, hop_length, n_frames, tw, stage_m, stage_s, radix2, post, starts, bins, weights, out)
    return out

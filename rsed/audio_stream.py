"""Audio input of ``rsed monitor``: samples from a file, a pipe or a microphone, converted as ``rsed detect`` converts files.

:class:`SampleConverter` turns pieces of any size of ``[n]`` or ``[n, channels]`` samples
(float, or integer PCM scaled as libsndfile scales it) into mono float32 at the detectors'
rates: channels averaged, then resampled by a streaming soxr resampler (high quality), which
gives the same samples as :func:`rsed.audio.load_audio` on the whole recording. NaN or
infinite samples are set to zero with a warning (a file given to ``rsed detect`` is refused
instead: one bad sample must not stop a monitor); clipped or out-of-range samples pass as they
are.

Sources (:func:`open_source`): ``-`` is standard input holding WAV (its header read from the
stream, so ``arecord``, ``sox`` and ``ffmpeg`` can pipe into it; a placeholder data size means
"until the end") or raw PCM (``rate``, ``channels``, ``dtype`` given); a FILE is anything
libsndfile reads, or a named pipe carrying WAV; ``mic`` is the default input device through
the optional ``sounddevice`` package (``pip install rsed[monitor]``).
"""

from __future__ import annotations

import logging
import math
import os
import queue
import select
import struct
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .audio import MIN_SAMPLE_RATE
from .errors import AudioError, RsedError

log = logging.getLogger(__name__)

#: Sample formats of raw PCM on standard input (little-endian), and their scale to [-1, 1).
RAW_DTYPES = {"int16": ("<i2", 2.0**15), "int32": ("<i4", 2.0**31), "float32": ("<f4", 1.0)}

#: WAV data sizes that streaming writers put in the header (the real size is unknown).
_PLACEHOLDER_SIZES = (0, 0xFFFFFFFF, 0x7FFFFFFF, 0x7FFFF000, 0xFFFFFFFF - 0x7F)
_WAVE_FORMATS = {1: "pcm", 3: "float"}
_EXTENSIBLE = 0xFFFE


class SampleConverter:
    """Samples in (any rate and channel count), mono float32 at each of ``target_rates`` out."""

    def __init__(self, rate: int, channels: int, target_rates):
        rate, channels = int(rate), int(channels)
        if rate < MIN_SAMPLE_RATE:
            raise AudioError(None, f"sample rate {rate} Hz is below {MIN_SAMPLE_RATE} Hz")
        if channels < 1:
            raise AudioError(None, f"the stream needs at least one channel, got {channels}")
        self.rate, self.channels = rate, channels
        self._resamplers = {}
        for target in sorted({int(r) for r in target_rates}):
            if target == rate:
                self._resamplers[target] = None
                continue
            import soxr

            if rate < target:
                log.warning("the stream is at %d Hz, upsampled to %d Hz; nothing above %d Hz, so detections are less reliable", rate, target, rate // 2)
            self._resamplers[target] = soxr.ResampleStream(rate, target, 1, dtype="float32", quality="HQ")
        self.n_in = 0
        self.n_out = {target: 0 for target in self._resamplers}
        self.nonfinite = 0

    def feed(self, samples) -> dict[int, np.ndarray]:
        """``{target rate: mono float32 samples}`` of the next piece of the stream."""
        x = as_float(samples)
        if x.ndim == 1 and self.channels == 1:
            mono = x
        elif x.ndim == 2 and x.shape[1] == self.channels:
            if not np.all(np.isfinite(x)):
                x = self._zeroed(x)
            mono = x.T.mean(axis=0) if self.channels > 1 else x[:, 0]  # as load_audio down-mixes
        else:
            raise ValueError(f"expected samples of shape (n, {self.channels}) or (n,) for one channel, got {x.shape}")
        if not np.all(np.isfinite(mono)):
            mono = self._zeroed(mono)
        mono = np.ascontiguousarray(mono, dtype=np.float32)
        self.n_in += mono.size
        return {target: self._out(target, mono, last=False) for target in self._resamplers}

    def flush(self) -> dict[int, np.ndarray]:
        """The resamplers' last samples; each output then holds ``ceil(n * ratio)`` samples, as librosa's resampling gives."""
        out = {}
        for target in self._resamplers:
            y = self._out(target, np.zeros(0, np.float32), last=True)
            wanted = math.ceil(self.n_in * target / self.rate) - (self.n_out[target] - y.size)
            out[target] = np.concatenate([y, np.zeros(max(0, wanted - y.size), np.float32)])[: max(0, wanted)]
            self.n_out[target] += out[target].size - y.size
        return out

    def _out(self, target: int, mono: np.ndarray, last: bool) -> np.ndarray:
        resampler = self._resamplers[target]
        y = mono if resampler is None else np.asarray(resampler.resample_chunk(mono, last=last), np.float32)
        self.n_out[target] += y.size
        return y

    def _zeroed(self, x: np.ndarray) -> np.ndarray:
        bad = ~np.isfinite(x)
        if not self.nonfinite:
            log.warning("the stream holds NaN or infinite samples; they are set to zero (reported again at the end)")
        self.nonfinite += int(bad.sum())
        return np.where(bad, np.float32(0.0), x)


def as_float(samples) -> np.ndarray:
    """Float samples as given; integer PCM scaled to [-1, 1) as libsndfile reads it (uint8 centred on 128)."""
    x = np.asarray(samples)
    if x.dtype.kind == "f":
        return x.astype(np.float32, copy=False)
    if x.dtype == np.uint8:
        return (x.astype(np.float32) - np.float32(128.0)) / np.float32(128.0)
    if x.dtype.kind == "i":
        return x.astype(np.float32) / np.float32(2.0 ** (8 * x.dtype.itemsize - 1))
    raise ValueError(f"samples must be float or integer PCM, got dtype {x.dtype}")


# ----------------------------------------------------------------------------------------
# Sources
# ----------------------------------------------------------------------------------------


@dataclass
class Source:
    """An open input: its rate, channels and name, and ``blocks()``, an iterator of ``[n, channels]`` arrays."""

    name: str
    rate: int
    channels: int
    blocks: Iterator[np.ndarray]
    close: callable = field(default=lambda: None)


def open_source(spec: str, *, rate: int | None = None, channels: int | None = None, dtype: str | None = None, block_seconds: float = 0.05) -> Source:
    """Open ``-`` (standard input), ``mic`` or a file path; see the module docstring."""
    if spec == "-":
        return _pipe_source(sys.stdin.buffer, "stdin", rate, channels, dtype, block_seconds)
    if spec == "mic":
        return _mic_source(rate, channels, block_seconds)
    path = Path(spec)
    try:
        regular = path.is_file()
        exists = path.exists()
    except OSError as exc:
        raise AudioError(path, f"cannot access the file ({exc.strerror or exc})") from None
    if not exists:
        raise AudioError(path, "file not found")
    if not regular:  # a named pipe or a device: WAV or raw PCM read as a stream
        try:
            handle = open(path, "rb")
        except OSError as exc:
            raise AudioError(path, f"cannot read ({exc.strerror or exc})") from None
        source = _pipe_source(handle, str(path), rate, channels, dtype, block_seconds)
        source.close = handle.close
        return source
    return _file_source(path, block_seconds)


def _file_source(path: Path, block_seconds: float) -> Source:
    import soundfile as sf

    from .audio import _DECODE_ERRORS

    try:
        handle = sf.SoundFile(str(path))
    except (*_DECODE_ERRORS, OSError) as exc:
        raise AudioError(path, f"not a readable audio file ({exc})") from None
    frames = max(1, int(block_seconds * handle.samplerate))

    def blocks():
        try:
            while True:
                data = handle.read(frames, dtype="float32", always_2d=True)
                if not len(data):
                    return
                yield data
        except (*_DECODE_ERRORS, OSError) as exc:
            raise AudioError(path, f"reading failed ({exc})") from None

    return Source(str(path), int(handle.samplerate), int(handle.channels), blocks(), handle.close)


def _pipe_source(stream: BinaryIO, name: str, rate, channels, dtype, block_seconds: float) -> Source:
    """WAV when the stream starts with a RIFF/RF64 header, else raw PCM described by the arguments."""
    reader = _Reader(stream)
    head = reader.peek(4)
    if head in (b"RIFF", b"RF64"):
        rate_, channels_, decode, width, size = _wav_header(reader, name)
        if rate is not None and rate != rate_:
            log.warning("%s: the WAV header says %d Hz; --rate %d is ignored", name, rate_, rate)
    else:
        if rate is None:
            raise AudioError(None, f"{name} is not WAV (no RIFF header); for raw PCM give --rate (and --channels, --dtype)")
        dtype = dtype or "int16"
        if dtype not in RAW_DTYPES:
            raise AudioError(None, f"unknown raw sample format {dtype!r}; choose from {', '.join(RAW_DTYPES)}")
        rate_, channels_, size = int(rate), int(channels or 1), None
        code, scale = RAW_DTYPES[dtype]
        width = np.dtype(code).itemsize
        decode = _numpy_decoder(code, scale)
    frame_bytes = width * channels_
    chunk = max(frame_bytes, int(block_seconds * rate_) * frame_bytes)

    def blocks():
        left, pending = size, b""
        while left is None or left > 0:
            data = reader.read(chunk if left is None else min(chunk, left))
            if not data:
                break
            left = None if left is None else left - len(data)
            data, pending = pending + data, b""
            usable = len(data) - len(data) % frame_bytes
            data, pending = data[:usable], data[usable:]
            if data:
                yield decode(data).reshape(-1, channels_)
        if pending:
            log.warning("%s ended within a sample frame; its last %d byte(s) are ignored", name, len(pending))

    return Source(name, rate_, channels_, blocks())


class _Reader:
    """Reads what a pipe has (up to n bytes), not waiting for a full buffer; peeks at the start."""

    def __init__(self, stream: BinaryIO):
        self._stream, self._head = stream, b""
        try:
            self._fd = stream.fileno()
        except (AttributeError, OSError, ValueError):
            self._fd = None

    def peek(self, n: int) -> bytes:
        while len(self._head) < n:
            data = self._raw(n - len(self._head))
            if not data:
                break
            self._head += data
        return self._head[:n]

    def read(self, n: int) -> bytes:
        """Up to n bytes: waits for the first, then takes what the pipe already holds (b"" at the end)."""
        if self._head:
            data, self._head = self._head[:n], self._head[n:]
            return data
        data = self._raw(n)
        while data and len(data) < n and self._ready():
            more = self._raw(n - len(data))
            if not more:
                break
            data += more
        return data

    def _ready(self) -> bool:
        if self._fd is None:
            return False
        try:
            return bool(select.select([self._fd], [], [], 0)[0])
        except (OSError, ValueError):
            return False

    def exactly(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            more = self.read(n - len(data))
            if not more:
                break
            data += more
        return data

    def _raw(self, n: int) -> bytes:
        if self._fd is not None:
            return os.read(self._fd, n)
        read1 = getattr(self._stream, "read1", None)
        return read1(n) if read1 is not None else self._stream.read(n)


def _numpy_decoder(code: str, scale: float):
    return lambda data: np.frombuffer(data, dtype=code).astype(np.float32) / np.float32(scale)


def _decode_int24(data: bytes) -> np.ndarray:
    b = np.frombuffer(data, np.uint8).reshape(-1, 3).astype(np.int32)
    v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
    v = np.where(v >= 1 << 23, v - (1 << 24), v)
    return v.astype(np.float32) / np.float32(2.0**23)


def _wav_header(reader: _Reader, name: str):
    """``(rate, channels, decoder, bytes per sample, data bytes or None)`` from a WAV header on a stream."""
    riff = reader.exactly(12)
    if len(riff) < 12 or riff[8:12] != b"WAVE":
        raise AudioError(None, f"{name}: not a WAV stream (no WAVE header)")
    fmt = None
    while True:
        header = reader.exactly(8)
        if len(header) < 8:
            raise AudioError(None, f"{name}: the WAV stream ends before its data chunk")
        chunk_id, size = header[:4], struct.unpack("<I", header[4:])[0]
        if chunk_id == b"data":
            break
        body = reader.exactly(size + (size & 1))
        if chunk_id == b"fmt ":
            fmt = body
    if fmt is None or len(fmt) < 16:
        raise AudioError(None, f"{name}: the WAV stream has no format chunk before its data")
    tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag == _EXTENSIBLE and len(fmt) >= 26:
        tag = struct.unpack("<H", fmt[24:26])[0]
    kind = _WAVE_FORMATS.get(tag)
    decoders = {
        ("pcm", 8): lambda d: as_float(np.frombuffer(d, np.uint8)),
        ("pcm", 16): _numpy_decoder("<i2", 2.0**15),
        ("pcm", 24): _decode_int24,
        ("pcm", 32): _numpy_decoder("<i4", 2.0**31),
        ("float", 32): _numpy_decoder("<f4", 1.0),
        ("float", 64): _numpy_decoder("<f8", 1.0),
    }
    if (kind, bits) not in decoders or channels < 1:
        raise AudioError(None, f"{name}: unsupported WAV sample format (format tag {tag}, {bits} bits, {channels} channels)")
    data_size = None if size in _PLACEHOLDER_SIZES else size
    return rate, channels, decoders[(kind, bits)], bits // 8, data_size


def _mic_source(rate, channels, block_seconds: float) -> Source:
    """The default input device, through sounddevice (an optional extra)."""
    try:
        import sounddevice as sd
    except (ImportError, OSError) as exc:  # OSError: the package is there, the PortAudio library is not
        raise RsedError(None, f"mic input needs the sounddevice package and PortAudio: pip install 'rsed[monitor]' ({exc})") from None
    try:
        device = sd.query_devices(kind="input")
    except Exception as exc:  # sounddevice raises PortAudioError or ValueError when there is no input device
        raise RsedError(None, f"no audio input device found ({exc})") from None
    rate = int(rate or device["default_samplerate"])
    channels = int(channels or 1)
    blocks: queue.Queue = queue.Queue()
    dropped = [0]

    def callback(indata, frames, time_info, status):
        if status:
            dropped[0] += 1
        blocks.put(indata.copy())

    try:
        stream = sd.InputStream(samplerate=rate, channels=channels, dtype="float32", blocksize=max(1, int(block_seconds * rate)), callback=callback)
        stream.start()
    except Exception as exc:
        raise RsedError(None, f"cannot open the audio input device ({exc})") from None

    def read():
        while True:
            yield blocks.get()
            if dropped[0]:
                log.warning("the audio input overflowed %d time(s): samples were lost", dropped[0])
                dropped[0] = 0

    def close():
        stream.stop()
        stream.close()

    return Source("mic", rate, channels, read(), close)


def paced(blocks: Iterator[np.ndarray], rate: int, clock=time.monotonic, sleep=time.sleep) -> Iterator[np.ndarray]:
    """``blocks`` no faster than real time: each is passed on once the stream time at its end has passed."""
    start, position = clock(), 0
    for block in blocks:
        position += len(block)
        wait = start + position / rate - clock()
        if wait > 0:
            sleep(wait)
        yield block

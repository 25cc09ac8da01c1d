"""Fuzzing the two readers of untrusted files: the audio loader and the event-list parser.

Whatever the bytes, :func:`rsed.audio.load_audio` gives finite mono float32 samples or an
AudioError naming the file, and :func:`rsed.data.layout.read_event_list` gives a list of
events or a DataError naming the file; never another exception.
"""

from __future__ import annotations

import io
import math
import struct

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rsed.audio import load_audio
from rsed.data.layout import MixtureEvent, format_event_list, read_event_list
from rsed.errors import AudioError, DataError

FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], derandomize=True)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def _load_or_refuse(path, sample_rate=None):
    """Call the loader; check its contract on success; return the samples or the AudioError."""
    try:
        y = load_audio(path, sample_rate=sample_rate)
    except AudioError as exc:
        assert exc.path == path and str(path) in str(exc) and exc.reason
        return exc
    assert y.dtype == np.float32 and y.ndim == 1 and y.size >= 1 and np.all(np.isfinite(y))
    return y


def _wav(subtype: str, channels: int = 1, rate: int = 44100, n: int = 64) -> bytes:
    buffer = io.BytesIO()
    samples = np.random.default_rng(0).uniform(-0.5, 0.5, (n, channels))
    sf.write(buffer, samples, rate, subtype=subtype, format="WAV")
    return buffer.getvalue()


VALID_WAVS = [_wav("PCM_16"), _wav("PCM_24", channels=2), _wav("FLOAT", rate=8000), _wav("PCM_U8", rate=22050)]


@FUZZ
@given(data=st.binary(max_size=4096))
def test_random_bytes_named_wav(scratch, data):
    path = scratch / "random.wav"
    path.write_bytes(data)
    _load_or_refuse(path)


@FUZZ
@given(
    which=st.integers(0, len(VALID_WAVS) - 1),
    edits=st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), max_size=6),
    cut=st.one_of(st.none(), st.integers(0, 400)),
)
def test_damaged_wav_files(scratch, which, edits, cut):
    """A valid WAV with some header or sample bytes overwritten and possibly cut short."""
    data = bytearray(VALID_WAVS[which])
    for position, value in edits:
        if position < len(data):
            data[position] = value
    if cut is not None:
        data = data[:cut]
    path = scratch / "damaged.wav"
    path.write_bytes(bytes(data))
    _load_or_refuse(path, sample_rate=44100)


@FUZZ
@given(
    format_tag=st.sampled_from([1, 3, 6, 7, 0xFFFE, 0, 2, 0x55, 12345]),
    channels=st.integers(0, 70000),
    rate=st.one_of(st.integers(0, 2**32 - 1), st.sampled_from([8000, 44100, 96000, 1])),
    bits=st.sampled_from([0, 1, 8, 12, 16, 24, 32, 64, 65535]),
    declared=st.one_of(st.integers(0, 2**32 - 1), st.just(0xFFFFFFFF)),
    body=st.binary(max_size=512),
)
def test_wav_headers_with_arbitrary_fields(scratch, format_tag, channels, rate, bits, declared, body):
    """A well-formed RIFF layout whose fmt fields and data size say anything."""
    block_align = (channels * bits // 8) & 0xFFFF
    fmt = struct.pack("<HHIIHH", format_tag, channels & 0xFFFF, rate, (rate * block_align) & 0xFFFFFFFF, block_align, bits)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", declared) + body
    path = scratch / "header.wav"
    path.write_bytes(b"RIFF" + struct.pack("<I", (4 + len(chunks)) & 0xFFFFFFFF) + b"WAVE" + chunks)
    _load_or_refuse(path, sample_rate=44100)


# ----------------------------------------------------------------------------------------------
# Event lists


def _parse_or_refuse(path):
    try:
        events = read_event_list(path)
    except DataError as exc:
        assert exc.path == path and str(path) in str(exc) and exc.reason
        return exc
    for event in events:
        assert isinstance(event, MixtureEvent) and event.filename and "\t" not in event.filename
        if event.has_event:
            assert math.isfinite(event.onset) and math.isfinite(event.offset) and 0 <= event.onset < event.offset
            assert event.label
    return events


FIELD = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["mixture_a.wav", "0", "1.5", "-1", "nan", "inf", "1e400", "1_0", "babycry", "../x.wav", "/etc/passwd", "a b", ",", "\x00"]),
)
LINE = st.lists(FIELD, max_size=6).map("\t".join)


@FUZZ
@given(lines=st.lists(st.one_of(LINE, st.text(max_size=40)), max_size=8), ending=st.sampled_from(["\n", "\r\n", "\r"]))
def test_event_list_text(scratch, lines, ending):
    path = scratch / "event_list.csv"
    path.write_bytes(ending.join(lines).encode("utf-8", errors="surrogatepass") if all("\ud800" > c or c > "\udfff" for line in lines for c in line) else b"x")
    _parse_or_refuse(path)


@FUZZ
@given(data=st.binary(max_size=512))
def test_event_list_bytes(scratch, data):
    path = scratch / "event_list.csv"
    path.write_bytes(data)
    _parse_or_refuse(path)


NAME = st.text(alphabet=st.characters(whitelist_categories=("L", "N"), whitelist_characters="_-.", max_codepoint=0x2FF), min_size=1, max_size=20).filter(
    lambda s: s not in (".", "..")
)


@FUZZ
@given(
    rows=st.lists(
        st.tuples(NAME, st.one_of(st.none(), st.tuples(st.integers(0, 10**8), st.integers(1, 10**8), NAME))),
        max_size=10,
    )
)
def test_event_list_round_trip(scratch, rows):
    """What :func:`format_event_list` writes reads back as the same events (times in microseconds)."""
    events = []
    for name, event in rows:
        if event is None:
            events.append(MixtureEvent(name))
        else:
            onset, length, label = event
            events.append(MixtureEvent(name, onset / 1e6, (onset + length) / 1e6, label))
    path = scratch / "round_trip.csv"
    path.write_text(format_event_list(events), encoding="utf-8")
    assert read_event_list(path) == events

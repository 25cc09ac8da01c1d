"""``rsed monitor``: a stream's features, probabilities and events against the whole-file computation.

The detectors come from ``fixtures_monitor.py`` (tiny CRNNs with set weights, fitted on
training mixtures); the stream is 20 mini devtest mixtures of 30 s played back to back.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
import signal
import sys
import types

import numpy as np
import pytest
import soundfile as sf

import fixtures_monitor
from rsed.audio_stream import SampleConverter, _pipe_source, paced
from rsed.cli import main as cli_main
from rsed.cli.monitor import FAST_BLOCK_SECONDS, _Interruptible
from rsed.config import FeatureConfig, PostprocessConfig
from rsed.features import logmel
from rsed.inference.detect import decide, file_probabilities, load_detectors
from rsed.inference.monitor import Monitor, StreamFrames, default_max_latency
from rsed.inference.postprocessing import detect_event
from rsed.inference.stream_rule import END, FELL, MAX_LATENCY, StreamRule

FEATURES = FeatureConfig()
SR = FEATURES.sample_rate
STEP = FEATURES.step_seconds
STEP_SAMPLES = FEATURES.hop_length * FEATURES.frames_per_step


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return fixtures_monitor.build(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def ensembles(built):
    return load_detectors(built["models"])


@pytest.fixture(scope="module")
def stream(built):
    return sf.read(built["stream"], dtype="float32")[0]


def _feed(monitor: Monitor, y: np.ndarray, rng: np.random.Generator, largest: int = 20000) -> list:
    """Feed ``y`` in pieces of random sizes (some empty, some one sample), then flush."""
    events, pos = [], 0
    while pos < len(y):
        n = int(rng.choice([0, 1, rng.integers(2, 200), rng.integers(200, largest)]))
        events += monitor.feed(y[pos : pos + n])
        pos += n
    return events + monitor.flush()


def _write(path, y, rate=SR, subtype="PCM_24"):
    sf.write(path, y, rate, subtype=subtype)
    return path


# ----------------------------------------------------------------------------------------
# Stream equals whole file
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("config", [FEATURES, dataclasses.replace(FEATURES, n_fft=1500, hop_length=512, frames_per_step=8)], ids=["paper", "scipy-path"])
def test_frames_equal_whole_file(config):
    y = (0.1 * np.random.default_rng(0).standard_normal(int(3.3 * SR) + 77)).astype(np.float32)
    frames, rng, pos = StreamFrames(config), np.random.default_rng(1), 0
    parts = []
    while pos < y.size:
        n = int(rng.choice([0, 1, rng.integers(2, 5000)]))
        parts.append(frames.feed(y[pos : pos + n]))
        pos += n
    parts.append(frames.flush())
    np.testing.assert_array_equal(np.concatenate(parts), logmel(y, config))


def test_a_frame_is_returned_once_its_window_has_arrived():
    frames = StreamFrames(FEATURES)
    y = np.zeros(10 * FEATURES.hop_length, np.float32)
    half, hop = FEATURES.n_fft // 2, FEATURES.hop_length
    assert len(frames.feed(y[: half - 1])) == 0  # frame 0 reaches half a window past its centre
    assert len(frames.feed(y[half - 1 : half])) == 1
    assert len(frames.feed(y[half : half + 3 * hop])) == 3


def test_probabilities_equal_whole_file(ensembles, stream, tmp_path):
    y = stream[: int(90 * SR) + 1234]  # three mixtures and a stream that ends within a step
    whole = file_probabilities(_write(tmp_path / "a.wav", y, subtype="FLOAT"), ensembles)
    monitor = Monitor(ensembles, record=True, max_latency=None)
    _feed(monitor, y, np.random.default_rng(2))
    for class_name in ensembles:
        got, want = monitor.probabilities(class_name), whole.probabilities[class_name]
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)


def test_a_step_is_final_when_its_last_window_is_computed(ensembles, stream):
    """Basic latency: after k whole steps of samples, exactly k - tau_max + 1 steps of a class are final."""
    monitor = Monitor(ensembles, record=True)
    k = 40
    monitor.feed(stream[: k * STEP_SAMPLES])
    for class_name, ensemble in ensembles.items():
        assert monitor.probabilities(class_name).size == k - max(ensemble.timesteps) + 1


def test_resampled_stereo_stream_equals_the_file(ensembles, stream, tmp_path):
    import librosa

    y48 = librosa.resample(stream[: 35 * SR], orig_sr=SR, target_sr=48000, res_type="soxr_hq")
    stereo = np.stack([1.5 * y48, 0.5 * y48], axis=1)  # the mean is the clip
    path = _write(tmp_path / "stereo48k.wav", stereo, rate=48000, subtype="FLOAT")
    whole = file_probabilities(path, ensembles)
    monitor = Monitor(ensembles, sample_rate=48000, channels=2, record=True)
    _feed(monitor, sf.read(path, dtype="float32")[0], np.random.default_rng(3))
    for class_name in ensembles:
        np.testing.assert_allclose(monitor.probabilities(class_name), whole.probabilities[class_name], rtol=0, atol=1e-6)


# ----------------------------------------------------------------------------------------
# The rule
# ----------------------------------------------------------------------------------------


def _one_excursion(rng, n: int, t1: float, t2: float) -> np.ndarray:
    """Background below t2 with bumps between t2 and t1, one stretch above t2 holding every step above t1."""
    p = rng.uniform(0.0, t2, n)
    for _ in range(rng.integers(0, 4) if t1 > t2 + 1e-3 else 0):  # bumps above t2 that never reach t1
        at = rng.integers(0, n)
        p[at : at + rng.integers(1, 4)] = rng.uniform(t2 + 1e-3, t1, 1)
    start = int(rng.integers(0, n - 5))
    length = int(rng.integers(1, min(40, n - start) + 1))
    region = rng.uniform(t2 + 1e-3, 1.0, length)
    top = int(rng.integers(0, length))
    region[top : top + rng.integers(1, 4)] = rng.uniform(max(t1, t2) + 1e-3, 1.0)  # the excursion above t1, maybe a plateau (ties, as saturated outputs give)
    p[start : start + length] = region
    if start + length < n:
        p[start + length] = rng.uniform(0.0, t2)  # the region ends with a fall
    return p


@pytest.mark.parametrize("t1", [0.5, 0.8])
def test_rule_reduces_to_the_paper_on_a_clip_with_one_excursion(t1):
    rng = np.random.default_rng(4)
    config = PostprocessConfig(presence_threshold=t1, onset_threshold=0.5, lookback_seconds=1.0)
    compared = 0
    for _ in range(300):
        p = _one_excursion(rng, int(rng.integers(8, 330)), t1, 0.5)
        rule = StreamRule(config, STEP, final_delay=3 * STEP, max_latency=None)
        found, pos = [], 0
        while pos < p.size:
            n = int(rng.integers(1, 50))
            found += rule.push(p[pos : pos + n])
            pos += n
        found += rule.end()
        want = detect_event(p, STEP, config)
        assert want is not None and len(found) == 1
        got = found[0]
        assert (got.onset_step, got.peak_step, got.offset_step) == (want.onset_step, want.peak_step, want.offset_step)
        assert got.peak_probability == want.peak_probability
        assert got.reason == (END if want.offset_step == p.size else FELL)
        compared += 1
    assert compared == 300


def _rule(**kw) -> StreamRule:
    config = PostprocessConfig(presence_threshold=kw.pop("t1", 0.5), onset_threshold=0.5, lookback_seconds=kw.pop("lookback", 1.0))
    return StreamRule(config, 0.1, final_delay=kw.pop("final_delay", 0.3), max_latency=kw.pop("max_latency", None))


@pytest.mark.parametrize("rule_name, onset", [("earliest", 10), ("contiguous", 14)])
def test_rule_follows_the_onset_rule_like_the_file_decision(rule_name, onset):
    p = np.full(40, 0.1)
    p[10:12] = 0.6  # above t2, below t1: no event of its own
    p[12:14] = 0.3  # a dip below t2
    p[14:18] = [0.6, 0.7, 0.95, 0.6]
    config = PostprocessConfig(presence_threshold=0.8, onset_threshold=0.5, lookback_seconds=1.0, onset_rule=rule_name)
    rule = StreamRule(config, 0.1, final_delay=0.3, max_latency=None)
    (event,) = rule.push(p) + rule.end()
    assert event.onset_step == onset == detect_event(p, 0.1, config).onset_step


def test_rule_merges_a_burst_within_the_lookback_and_separates_later_ones():
    p = np.full(100, 0.1)
    p[10:13] = [0.6, 0.9, 0.6]  # event 1, falls at step 13
    p[18:20] = [0.7, 0.95]  # 5 steps later: its look-back (10 steps) reaches event 1: the same event
    p[60:62] = [0.9, 0.7]  # far later: a new event
    rule = _rule()
    found = rule.push(p) + rule.end()
    assert [(d.onset_step, d.peak_step, d.offset_step) for d in found] == [(10, 11, 13), (60, 60, 62)]


def test_rule_max_latency_decides_a_long_event_once():
    p = np.full(200, 0.1)
    p[20:120] = 0.9  # a 10 s event
    p[70] = 0.95
    rule = _rule(max_latency=1.55, final_delay=0.3)  # off the step grid, where rounding cannot decide
    found = rule.push(p) + rule.end()
    assert len(found) == 1
    event = found[0]
    assert event.reason == MAX_LATENCY and event.offset_step is None and event.onset_step == 20
    latency = (event.decided_step - event.onset_step) * 0.1 + 0.3  # the stream time at which its step is final, minus the onset
    assert 1.55 - 0.1 < latency <= 1.55


def test_rule_decides_an_open_event_at_the_end_of_the_stream():
    rule = _rule(t1=0.8)
    assert rule.push(np.r_[np.full(30, 0.2), np.full(5, 0.6), [0.85, 0.9]]) == []
    (event,) = rule.end()
    assert (event.onset_step, event.peak_step, event.offset_step, event.reason) == (30, 36, 37, END)


def test_default_max_latency_is_the_longest_tau_plus_one_second(ensembles):
    assert default_max_latency(ensembles["gunshot"]) == pytest.approx(3 * STEP + 1.0)


# ----------------------------------------------------------------------------------------
# Equivalence on 20 mixtures, and the clip of the paper
# ----------------------------------------------------------------------------------------


def _dcase_events(text: str) -> dict[str, list[float]]:
    events: dict[str, list[float]] = {}
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) >= 4 and fields[1]:
            events.setdefault(fields[3], []).append(float(fields[1]))
    return {c: sorted(v) for c, v in events.items()}


def test_monitor_matches_detect_per_30_second_segment(built, ensembles, capsys):
    """20 mixtures back to back: the monitor's events are those of ``rsed detect --segment-seconds 30``.

    Holds where every 30 s segment has at most one run of probabilities above t2 reaching t1
    (plus bursts within the look-back of it) and no event straddles a segment boundary, as on
    these mixtures: the test checks that too, so that a change of data or detectors that
    breaks the premise is reported as such (docs/analysis.md says where the rules differ).
    """
    whole = file_probabilities(built["stream"], ensembles)
    span = int(round(30.0 / STEP))
    for class_name, probs in whole.probabilities.items():
        above = np.flatnonzero(probs > ensembles[class_name].postprocess.onset_threshold)
        lookback = int(round(ensembles[class_name].postprocess.lookback_seconds / STEP))
        for segment in np.unique(above // span):
            steps = above[above // span == segment]
            assert steps.max() - steps.min() <= lookback and steps.max() % span < span - 5, f"{class_name} segment {segment}: {steps}"
    assert cli_main(["detect", str(built["stream"]), "--models", str(built["models"]), "--segment-seconds", "30"]) == 0
    want = _dcase_events(capsys.readouterr().out)
    assert cli_main(["monitor", "--models", str(built["models"]), "--input", str(built["stream"])]) == 0
    out = capsys.readouterr()
    got = _dcase_events(out.out)
    assert sum(map(len, want.values())) >= 4, want  # the detectors find events in both classes
    assert set(want) == set(got) == set(ensembles)
    for class_name in want:
        assert len(got[class_name]) == len(want[class_name]), (class_name, got, want)
        assert np.max(np.abs(np.subtract(got[class_name], want[class_name]))) < 0.1
    assert "rsed monitor: 600.0 s" in out.err


def test_a_clip_fed_alone_gives_the_file_decision(built, ensembles, stream, tmp_path):
    clip = stream[4 * 30 * SR : 5 * 30 * SR]  # the fifth mixture: one event
    rows = [r for r in decide(file_probabilities(_write(tmp_path / "clip.wav", clip, subtype="FLOAT"), ensembles), ensembles) if r.onset is not None]
    events = _feed(Monitor(ensembles, max_latency=None), clip, np.random.default_rng(5))
    assert len(rows) >= 2
    assert sorted((e.class_name, round(e.onset, 6), round(e.offset, 6), round(e.peak_probability, 5)) for e in events) == sorted(
        (r.class_name, round(r.onset, 6), round(r.offset, 6), round(r.peak_probability, 5)) for r in rows
    )


def test_memory_stays_bounded(ensembles, stream):
    monitor = Monitor(ensembles)
    for start in range(0, stream.size, 3 * SR):
        monitor.feed(stream[start : start + 3 * SR])
    frames = next(iter(monitor._frames.values()))
    assert frames._buffer.size <= FEATURES.n_fft + 3 * SR
    for stream_class in monitor._classes.values():
        assert stream_class.rule._recent.maxlen == int(round(stream_class.ensemble.postprocess.lookback_seconds / STEP)) + 1
        for member in stream_class.members:
            assert len(member._rows) < member.tau and len(member._windows) < member.tau
        assert all(sum(map(len, pending)) < 3 for pending in stream_class._pending)


# ----------------------------------------------------------------------------------------
# Robustness of the API
# ----------------------------------------------------------------------------------------


def test_silence_short_and_irregular_streams(ensembles):
    monitor = Monitor(ensembles, record=True)
    assert monitor.feed(np.zeros(0, np.float32)) == []
    assert monitor.feed(np.zeros(10 * SR, np.float32)) == [] and monitor.flush() == []
    assert monitor.probabilities("gunshot").size == (1 + 10 * SR // FEATURES.hop_length) // FEATURES.frames_per_step
    with pytest.raises(RuntimeError):
        monitor.feed(np.zeros(10, np.float32))
    blip = Monitor(ensembles, record=True)
    blip.feed(np.ones(100, np.float32))
    assert blip.flush() == [] and blip.probabilities("gunshot").size == 0  # shorter than one step: nothing to decide


def test_nonfinite_samples_are_zeroed_with_a_warning(ensembles, stream, caplog):
    y = stream[: 20 * SR].copy()
    bad = np.random.default_rng(6).integers(0, y.size, 50)
    y[bad[:25]], y[bad[25:]] = np.nan, np.inf
    zeroed = y.copy()
    zeroed[bad] = 0.0
    clean = Monitor(ensembles, record=True)
    clean.feed(zeroed), clean.flush()
    with caplog.at_level(logging.WARNING, logger="rsed"):
        dirty = Monitor(ensembles, record=True)
        dirty.feed(y[: 7 * SR]), dirty.feed(y[7 * SR :]), dirty.flush()
    assert "NaN or infinite" in caplog.text and "50 NaN or infinite" in caplog.text
    np.testing.assert_array_equal(dirty.probabilities("gunshot"), clean.probabilities("gunshot"))


def test_integer_and_clipped_input(ensembles, stream):
    pcm = np.clip(np.round(stream[: 10 * SR] * 8 * 32768), -32768, 32767).astype(np.int16)  # amplified until it clips
    as_int, as_float = Monitor(ensembles, record=True), Monitor(ensembles, record=True)
    as_int.feed(pcm), as_int.flush()
    as_float.feed(pcm.astype(np.float32) / 32768), as_float.flush()
    np.testing.assert_array_equal(as_int.probabilities("gunshot"), as_float.probabilities("gunshot"))
    with pytest.raises(ValueError, match="shape"):
        Monitor(ensembles, channels=2).feed(np.zeros(100, np.float32))


@pytest.mark.parametrize("subtype,fmt", [("PCM_16", "WAV"), ("PCM_24", "WAV"), ("PCM_U8", "WAV"), ("FLOAT", "WAV"), ("DOUBLE", "WAV"), ("PCM_32", "WAVEX")])
def test_wav_streams_decode_as_libsndfile_reads_them(subtype, fmt):
    y = np.random.default_rng(7).uniform(-0.9, 0.9, (3000, 2))
    buffer = io.BytesIO()
    sf.write(buffer, y, 22050, subtype=subtype, format=fmt)
    data = buffer.getvalue()
    source = _pipe_source(io.BufferedReader(io.BytesIO(data + b"LIST\x04\x00\x00\x00junk")), "x", None, None, None, 0.01)
    assert (source.rate, source.channels) == (22050, 2)
    np.testing.assert_array_equal(np.concatenate(list(source.blocks)), sf.read(io.BytesIO(data), dtype="float32")[0])


def test_a_wav_stream_of_unknown_length_is_read_to_its_end():
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros(1001), 16000, subtype="PCM_16", format="WAV")
    data = bytearray(buffer.getvalue())
    at = data.index(b"data")
    data[at + 4 : at + 8] = b"\xff\xff\xff\xff"  # as arecord and ffmpeg write to a pipe
    source = _pipe_source(io.BytesIO(bytes(data) + b"\x01"), "x", None, None, None, 0.01)  # and a last half sample
    assert sum(len(b) for b in source.blocks) == 1001


def test_resampler_output_has_the_whole_file_length():
    converter = SampleConverter(48000, 1, [44100])
    n = sum(converter.feed(np.zeros(k, np.float32))[44100].size for k in (1, 4799, 33))
    n += converter.flush()[44100].size
    assert n == int(np.ceil(4833 * 44100 / 48000))


def test_pacing_never_runs_ahead_of_real_time():
    now = [0.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    blocks = [np.zeros(441)] * 5
    for _ in paced(iter(blocks), 44100, clock=lambda: now[0], sleep=sleep):
        pass
    assert now[0] == pytest.approx(5 * 0.01) and len(slept) == 5


# ----------------------------------------------------------------------------------------
# The command line
# ----------------------------------------------------------------------------------------


def _run_cli(argv, capsys):
    status = cli_main(argv)
    out = capsys.readouterr()
    return status, out.out, out.err


def test_cli_errors_are_one_line_and_status_2(built, tmp_path, capsys, monkeypatch):
    models = str(built["models"])
    cases = [
        (["monitor", "--models", str(tmp_path / "none"), "--input", str(built["stream"])], "models folder not found"),
        (["monitor", "--models", models, "--input", str(tmp_path / "missing.wav")], "file not found"),
        (["monitor", "--models", models, "--input", str(_write_bytes(tmp_path / "junk.wav"))], "not a readable audio file"),
        (["monitor", "--models", models, "--input", str(built["stream"]), "--max-latency", "-1"], "--max-latency must be positive"),
    ]
    for argv, message in cases:
        status, _, err = _run_cli(argv, capsys)
        assert status == 2 and err.startswith("rsed: error:") and message in err and len(err.splitlines()) == 1, err
    monkeypatch.setattr(sys, "stdin", types.SimpleNamespace(buffer=io.BytesIO(b"\x00\x01" * 3000)))
    status, _, err = _run_cli(["monitor", "--models", models], capsys)
    assert status == 2 and "is not WAV" in err and "--rate" in err


def _write_bytes(path):
    path.write_bytes(b"not audio at all" * 64)
    return path


def test_cli_mic_needs_sounddevice_and_an_input_device(built, capsys, monkeypatch):
    argv = ["monitor", "--models", str(built["models"]), "--input", "mic"]
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # not installed
    status, _, err = _run_cli(argv, capsys)
    assert status == 2 and "pip install 'rsed[monitor]'" in err

    def no_device(kind):
        raise ValueError("No input device matching ''")

    monkeypatch.setitem(sys.modules, "sounddevice", types.SimpleNamespace(query_devices=no_device))
    status, _, err = _run_cli(argv, capsys)
    assert status == 2 and "no audio input device" in err


def test_cli_raw_pcm_jsonl_to_a_file(built, stream, tmp_path, capsys, monkeypatch):
    pcm = np.round(stream[4 * 30 * SR : 5 * 30 * SR] * 32767).astype("<i2")
    monkeypatch.setattr(sys, "stdin", types.SimpleNamespace(buffer=io.BytesIO(pcm.tobytes())))
    out = tmp_path / "events.jsonl"
    out.write_text('{"earlier": "line"}\n')
    status, printed, _ = _run_cli(["monitor", "--models", str(built["models"]), "--rate", "44100", "--format", "jsonl", "-o", str(out)], capsys)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert status == 0 and printed == "" and lines[0] == {"earlier": "line"}  # appended
    events = lines[1:]
    assert {e["event_label"] for e in events} == {"gunshot", "glassbreak"} and all(e["stream"] == "stdin" for e in events)
    assert all(0 < e["latency"] <= 3 * STEP + 1.0 + FAST_BLOCK_SECONDS for e in events)  # the default bound, plus one read block


def test_ctrl_c_flushes_the_pending_event_and_exits_0(built, stream, capsys, monkeypatch):
    """Interrupted just after an event's onset, before its probability is final: the flush still decides it."""
    from rsed import audio_stream

    clip = stream[4 * 30 * SR : 5 * 30 * SR]
    onset = 22.385
    cut = int((onset + 2 * STEP) * SR)

    def interrupted():
        yield clip[:cut, None]
        raise KeyboardInterrupt

    monkeypatch.setattr(audio_stream, "open_source", lambda *a, **k: audio_stream.Source("live", SR, 1, interrupted()))
    status, out, err = _run_cli(["monitor", "--models", str(built["models"]), "--input", "live"], capsys)
    onsets = _dcase_events(out)
    assert status == 0 and "Traceback" not in err
    assert onsets["gunshot"] == pytest.approx([onset], abs=0.1)


def test_a_signal_during_a_feed_waits_for_its_end():
    order = []
    with pytest.raises(KeyboardInterrupt), _Interruptible() as guard:
        with guard.busy():
            os.kill(os.getpid(), signal.SIGINT)
            order.append("feed finished")
        order.append("not reached")
    assert order == ["feed finished"]

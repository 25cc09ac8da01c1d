"""Error analysis: per-file outcomes add up to the run's sed_eval scores; breakdowns, worst files, Figure 4."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from fixtures_run import CLASSES, CLIP_SECONDS, tiny_run  # tests/ is on sys.path (pytest's rootdir-relative import)
from rsed.config import FeatureConfig, ScoringConfig
from rsed.data.layout import MixtureEvent, mixture_set, read_recipes
from rsed.errors import DataError
from rsed.evaluation import analysis
from rsed.evaluation.plots import figure_pixels
from rsed.evaluation.scoring import score_class

CLASS = CLASSES[0]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_run(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def outcomes(tiny):
    root, out = tiny
    return analysis.run_outcomes(out, root=root)


def _random_lists(seed: int, n_files: int = 60):
    """Reference and estimated lists of one class with every kind of outcome, onsets near the collar."""
    rng = np.random.default_rng(seed)
    reference, estimated = [], []
    for i in range(n_files):
        name = f"clip_{i:03d}.wav"
        onset = float(rng.uniform(0, 25))
        has_ref, has_est = rng.random() < 0.5, rng.random() < 0.6
        reference.append(MixtureEvent(name, onset, onset + 1.0, "x") if has_ref else MixtureEvent(name))
        if has_est:
            est = max(0.0, onset + float(rng.choice([rng.uniform(-0.49, 0.49), rng.uniform(0.51, 5.0), -rng.uniform(0.51, 5.0)])))
            estimated.append(MixtureEvent(name, est, est + 0.5, "x"))
    return reference, estimated


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_per_file_outcomes_add_up_to_sed_eval(seed):
    reference, estimated = _random_lists(seed)
    table = analysis.file_outcomes(reference, estimated, "x")
    whole = score_class("x", reference, estimated)
    ours = analysis.class_scores(table).loc["x"]
    assert ours["error_rate"] == pytest.approx(whole.error_rate)
    assert ours["f_measure"] == pytest.approx(whole.f_measure)
    assert (ours["deletions"], ours["insertions"], ours["references"]) == (whole.deletions, whole.insertions, whole.n_reference)
    assert set(table["outcome"]) == set(analysis.OUTCOMES)  # every kind occurs in these lists


def test_outcome_of_each_case():
    reference = [MixtureEvent("hit.wav", 10.0, 11.0, "x"), MixtureEvent("edge.wav", 10.0, 11.0, "x"), MixtureEvent("late.wav", 10.0, 11.0, "x"),
                 MixtureEvent("missed.wav", 10.0, 11.0, "x"), MixtureEvent("false.wav"), MixtureEvent("quiet.wav")]
    estimated = [MixtureEvent("hit.wav", 9.8, 10.5, "x"), MixtureEvent("edge.wav", 10.5, 11.0, "x"), MixtureEvent("late.wav", 10.6, 12.0, "x"),
                 MixtureEvent("false.wav", 3.0, 4.0, "x")]
    table = analysis.file_outcomes(reference, estimated, "x").set_index("file")
    assert table["outcome"].to_dict() == {
        "hit.wav": "hit", "edge.wav": "hit", "late.wav": "mislocated", "missed.wav": "deletion", "false.wav": "insertion", "quiet.wav": "correct rejection",
    }
    assert table.loc["hit.wav", "onset_error"] == pytest.approx(-0.2)
    assert table.loc["late.wav", "onset_error"] == pytest.approx(0.6)
    assert math.isnan(table.loc["missed.wav", "onset_error"]) and math.isnan(table.loc["false.wav", "onset_error"])
    assert (table.loc["late.wav", "deletions"], table.loc["late.wav", "insertions"]) == (1, 1)
    with pytest.raises(ValueError, match="not in the reference"):
        analysis.file_outcomes(reference, [MixtureEvent("other.wav", 1.0, 2.0, "x")], "x")
    wider = analysis.file_outcomes(reference, estimated, "x", ScoringConfig(t_collar=1.0)).set_index("file")
    assert wider.loc["late.wav", "outcome"] == "hit"


def test_run_outcomes_reproduce_the_run_scores(tiny, outcomes):
    root, out = tiny
    run = analysis.open_run(out)
    assert len(outcomes) == len(mixture_set(root, "devtest", CLASS).events())
    assert "agree" in analysis.check_scores(run, outcomes)
    pd.testing.assert_frame_equal(analysis.class_scores(outcomes), analysis.recorded_scores(run), check_dtype=False)
    tampered = outcomes.copy()
    flip = tampered.index[tampered["insertions"] > 0][0] if (tampered["insertions"] > 0).any() else tampered.index[0]
    tampered.loc[flip, "insertions"] = 1 - tampered.loc[flip, "insertions"]
    with pytest.raises(DataError, match="scores.json"):
        analysis.check_scores(run, tampered)
    # without the data root: the references come from the feature cache, the same outcomes
    bare = analysis.run_outcomes(out)
    pd.testing.assert_frame_equal(bare[analysis.OUTCOME_COLUMNS], outcomes[analysis.OUTCOME_COLUMNS])
    assert "ebr" not in bare.columns


def test_ebr_and_scene_come_from_the_recipes(tiny, outcomes):
    root, _ = tiny
    recipes = {r["mixture_audio_filename"]: r for r in read_recipes(mixture_set(root, "devtest", CLASS).recipes_path)}
    for row in outcomes.itertuples():
        recipe = recipes[row.file]
        assert row.scene == recipe["bg_classname"]
        assert (recipe["ebr"] == row.ebr) if recipe["event_present"] else math.isnan(row.ebr)


@pytest.mark.parametrize("by", ["ebr", "scene"])
def test_breakdowns_partition_the_files(outcomes, by):
    table = analysis.breakdown(outcomes, by)
    assert table["files"].sum() == len(outcomes)
    for column in ("references", "hits", "deletions", "insertions"):
        assert table[column].sum() == outcomes[column].sum()
    for (_, _), row in table.iterrows():
        if row["references"]:
            assert row["error_rate"] == pytest.approx((row["deletions"] + row["insertions"]) / row["references"])
        else:
            assert math.isnan(row["error_rate"])
    if by == "ebr":
        labels = set(table.index.get_level_values("ebr"))
        assert labels <= {-6.0, 0.0, 6.0, analysis.NO_EVENT} and analysis.NO_EVENT in labels


def test_worst_files_and_clip_choice(outcomes):
    worst = analysis.worst_files(outcomes, 3)
    errors = (outcomes["deletions"] + outcomes["insertions"]).to_numpy()
    assert len(worst) == min(3, int((errors > 0).sum()))
    assert list(worst["severity"]) == sorted(worst["severity"], reverse=True)
    assert worst["errors"].iloc[0] == errors.max()
    subset, class_name, file = analysis.select_clip(outcomes)
    rank = {o: i for i, o in enumerate(analysis.OUTCOMES)}
    assert rank[outcomes.set_index("file").loc[file, "outcome"]] == min(rank[o] for o in outcomes["outcome"])
    assert analysis.select_clip(outcomes, CLASS, outcomes["file"].iloc[-1])[2] == outcomes["file"].iloc[-1]
    with pytest.raises(DataError, match="no clip"):
        analysis.select_clip(outcomes, file="nothing.wav")


def test_clip_figure_marks_the_events(tiny, outcomes):
    root, out = tiny
    run = analysis.open_run(out)
    row = outcomes[outcomes["references"] == 1].iloc[0]
    logmel = analysis.load_logmel(run, "devtest", CLASS, row["file"], root)
    assert logmel.shape == (1 + int(CLIP_SECONDS * FeatureConfig().sample_rate) // FeatureConfig().hop_length, FeatureConfig().n_mels)
    fig = analysis.clip_figure(run, "devtest", CLASS, row["file"], root)
    assert (fig.get_size_inches() * fig.dpi).round().astype(int).tolist() == list(figure_pixels(1))
    probability_axes = fig.axes[0]
    vertical = sorted({float(line.get_xdata()[0]) for line in probability_axes.lines if len(set(line.get_xdata())) == 1})
    expected = [row["reference_onset"], row["reference_offset"]]  # onsets and offsets of the reference and the detection
    expected += [] if math.isnan(row["estimated_onset"]) else [row["estimated_onset"], row["estimated_offset"]]
    assert vertical == pytest.approx(sorted(set(expected)))
    assert fig.axes[1].get_ylabel() == "frequency (Hz)" and fig.axes[2].get_ylabel() == "dB"  # the spectrogram in Hz, its colour bar
    t1 = run.postprocess(CLASS).presence_threshold
    horizontal = {float(line.get_ydata()[0]) for line in probability_axes.lines if len(set(line.get_ydata())) == 1}
    assert t1 in horizontal and run.postprocess(CLASS).onset_threshold in horizontal


def test_clear_errors(tmp_path, tiny):
    with pytest.raises(DataError, match="not a finished run"):
        analysis.open_run(tmp_path)
    _, out = tiny
    assert analysis.open_run(out, row="crnn").row == analysis.open_run(out).row == "crnn"
    with pytest.raises(DataError, match="no row 'fnn'; it has crnn"):
        analysis.open_run(out, row="fnn")
    bad = tmp_path / "mixture_recipes_devtest_x.yaml"
    bad.write_text("just: a mapping\n")
    with pytest.raises(DataError, match="list of recipes"):
        read_recipes(bad)


def test_cross_class_false_alarms(tiny, tmp_path):
    """Each class's detectors on the other classes' clips; here a second class made of copies of the first, so
    every false alarm count is known: the first class's detections on its own clips, as the run decided them."""
    import json
    import shutil

    _, out = tiny
    run = tmp_path / "run"
    for part in ("results", "models", "features", "predictions", "estimates"):
        shutil.copytree(out / part, run / part)
    for folder in sorted((run / "models").glob(f"{CLASS}_crnn_t*")):
        twin = run / "models" / folder.name.replace(CLASS, "babycry")
        shutil.copytree(folder, twin)
        spec = json.loads((twin / "detector.json").read_text())
        (twin / "detector.json").write_text(json.dumps({**spec, "class_name": "babycry"}))
    for cache in sorted((run / "features").glob(f"features_devtest_{CLASS}_*.h5")):
        shutil.copy(cache, cache.with_name(cache.name.replace(f"_{CLASS}_", "_babycry_")))
    table = analysis.cross_class(run, "devtest", classes=[CLASS, "babycry"])
    assert list(table.columns) == analysis.CROSS_CLASS_COLUMNS
    detections = len(analysis.load_estimates(analysis.open_run(out), "devtest", CLASS))
    clips = len(analysis.load_probabilities(analysis.open_run(out), "devtest", CLASS))
    assert sorted(zip(table["detector"], table["clips_of"], strict=True)) == [("babycry", CLASS), (CLASS, "babycry")]
    assert table["clips"].tolist() == [clips, clips] and table["false_alarms"].tolist() == [detections, detections]
    assert table["alarms_per_clip"].tolist() == pytest.approx([detections / clips] * 2)
    matrix = analysis.cross_class_table(table)
    assert matrix.loc[CLASS, "babycry"] == pytest.approx(detections / clips) and math.isnan(matrix.loc[CLASS, CLASS])
    assert analysis.cross_class(out, "devtest").empty  # one class: nothing to cross

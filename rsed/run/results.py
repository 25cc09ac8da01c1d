"""The run's results: one record per row (``results/rows/``), and the tables, scores and run record rebuilt from them."""

from __future__ import annotations

import dataclasses
import platform
from pathlib import Path

from ..config import config_hash
from ..fileio import write_json, write_text
from ..records import read_json, read_row_records
from ..version import __version__
from .folder import RUN_FILE, _now, row_config
from .rows import Experiment, RunResult


def _write_row_record(result: RunResult, experiment: Experiment, record: dict, seconds: float, data: str = "other") -> None:
    """Write ``results/rows/<row>.json``; ``data`` is 'mini' for the embedded synthetic data (whose
    numbers the tables never subtract from the paper's), else 'other'."""
    test = experiment.test_subset if experiment.test_subset in result.scores else experiment.dev_subset
    record.update(
        {
            "format_version": 1,
            "row": experiment.row_id,
            "name": experiment.name,
            "table": experiment.table,
            "architecture": experiment.architecture,
            "schedule": experiment.baseline_training.schedule if experiment.architecture == "fnn" else experiment.training.schedule,
            "classes": result.classes,
            "timesteps": {c: list(experiment.timesteps_for(c)) for c in result.classes} if experiment.architecture != "fnn" else {},
            "subsets": {"dev": experiment.dev_subset, "test": test, "validation": experiment.validation_subset},
            "data": data,
            "recipe": experiment.recipe,
            "training": dataclasses.asdict(experiment.row_training),
            "onset_rules": list(experiment.onset_rules),
            "class_average": {sub: dict(zip(("error_rate", "f_measure"), result.averages(sub), strict=True)) for sub in result.scores},
            "config_hash": config_hash(row_config(experiment)),
            "experiment": dataclasses.asdict(experiment),
            "seconds": round(seconds, 1),
            "finished": _now(),
        }
    )
    write_json(result.out / "results" / "rows" / f"{experiment.row_id}.json", record)


def _package_versions() -> dict[str, str | None]:
    from importlib import metadata

    names = ("tensorflow", "keras", "numpy", "scipy", "librosa", "h5py", "soundfile", "sed_eval", "dcase_util", "scikit-learn")
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _hardware() -> dict:
    import os

    info = {"machine": platform.machine(), "processor": platform.processor() or None, "cpu_count": os.cpu_count(), "gpus": []}
    try:
        import tensorflow as tf

        info["gpus"] = [d.name for d in tf.config.list_physical_devices("GPU")]
    except Exception:  # pragma: no cover - hardware listing is informative only
        pass
    return info


def _git_revision() -> str | None:
    import subprocess

    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return (done.stdout.strip() or None) if done.returncode == 0 else None


def write_results(out: str | Path) -> None:
    """Rebuild ``results/``: Tables 2, 3 and 4 (Markdown and CSV), ``scores.json`` and ``run_record.json``."""
    from ..evaluation.tables import build_table2, build_table3, build_table4, render_table2, render_table3, render_table4, table2_csv, table3_csv, table4_csv

    out = Path(out)
    records = read_row_records(out)
    if not records:
        return
    run_data = read_json(out / RUN_FILE) if (out / RUN_FILE).is_file() else {}
    results = out / "results"
    t4 = build_table4(records)
    write_text(results / "table4.md", render_table4(t4))
    write_text(results / "table4.csv", table4_csv(t4))
    t2 = build_table2(records)
    write_text(results / "table2.md", render_table2(t2))
    write_text(results / "table2.csv", table2_csv(t2))
    t3 = build_table3(records, run_data.get("config", {}))
    write_text(results / "table3.md", render_table3(t3))
    write_text(results / "table3.csv", table3_csv(t3))
    write_json(results / "scores.json", {"rows": {r["row"]: {k: r[k] for k in ("name", "table", "architecture", "classes", "subsets", "class_average", "per_class")} for r in records}})
    config = run_data.get("config", {})
    write_json(
        results / "run_record.json",
        {
            "rsed_version": __version__,
            "git_revision": _git_revision(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "packages": _package_versions(),
            "hardware": _hardware(),
            "run": {k: run_data.get(k) for k in ("config_hash", "created", "rsed_version")},
            "configuration": config,
            "seeds": {"training": config.get("training", {}).get("seed"), "baseline_training": config.get("baseline", {}).get("training", {}).get("seed")},
            "rows": {
                r["row"]: {
                    "config_hash": r["config_hash"],
                    "seconds": r["seconds"],
                    "finished": r["finished"],
                    "models": {f"{c}/{tag}": m for c, pc in r["per_class"].items() for tag, m in pc["members"].items()},
                    "training": {k: (r.get("training") or {}).get(k) for k in ("positive_fraction", "prior_correction", "steps_per_epoch")},
                    "onset_rule": {c: (pc.get("postprocess") or {}).get("onset_rule") for c, pc in r["per_class"].items()},
                }
                for r in records
            },
            "updated": _now(),
        },
    )

"""Files rsed writes get the mode the umask allows (0644 under umask 022), written atomically as before."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from rsed.fileio import atomic_path, current_umask, file_mode, write_json, write_text


@pytest.fixture(params=[0o022, 0o077, 0o002])
def umask(request):
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_umask_is_read_without_changing_it(umask):
    assert current_umask() == umask
    assert current_umask() == umask  # reading it left it as it was
    assert file_mode() == 0o666 & ~umask


def test_written_files_and_folders_follow_the_umask(umask, tmp_path):
    write_text(tmp_path / "new" / "deeper" / "a.txt", "text\n")
    write_json(tmp_path / "b.json", {"a": 1})
    with atomic_path(tmp_path / "c.npy") as tmp, open(tmp, "wb") as handle:
        np.save(handle, np.arange(3))
    for name in ("new/deeper/a.txt", "b.json", "c.npy"):
        assert _mode(tmp_path / name) == 0o666 & ~umask, name
    for folder in ("new", "new/deeper"):
        assert _mode(tmp_path / folder) == 0o777 & ~umask, folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.json", "c.npy", "new"]  # no temporary file left


def test_a_figure_is_readable_by_others_under_umask_022(tmp_path):
    from rsed.evaluation.plots import figure4, save_figure

    old = os.umask(0o022)
    try:
        fig = figure4(np.linspace(0, 1, 20), 0.1, np.zeros((80, 8)), 0.5, 0.5, frame_seconds=0.025)
        path = save_figure(fig, tmp_path / "fig.png")
    finally:
        os.umask(old)
    assert _mode(path) == 0o644

"""Both notebooks run top to bottom (nbclient) on a tiny finished run over the embedded mini data.

The kernel is this interpreter with this checkout first on its path, through a kernel spec
written for the test (so neither a user's ``python3`` kernel nor an installed rsed is picked up).
"""

from __future__ import annotations

import base64
import json
import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from fixtures_run import CLASSES, tiny_run  # tests/ is on sys.path (pytest's rootdir-relative import)
from rsed.evaluation.plots import figure_pixels

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
KERNEL = "rsed-tests"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_run(tmp_path_factory.getbasetemp())


@pytest.fixture
def kernel(tmp_path, monkeypatch):
    """A kernel spec named :data:`KERNEL` that runs ``sys.executable`` with the checkout on PYTHONPATH."""
    spec_dir = tmp_path / "jupyter" / "kernels" / KERNEL
    spec_dir.mkdir(parents=True)
    path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "rsed tests",
        "language": "python",
        "env": {"PYTHONPATH": path, "TF_CPP_MIN_LOG_LEVEL": "2", "MPLBACKEND": "Agg"},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    return KERNEL


def _execute(name: str, kernel: str, env: dict[str, str], monkeypatch) -> nbformat.NotebookNode:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(notebook, kernel_name=kernel, timeout=300, resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    return notebook


def _outputs(notebook, kind: str) -> list:
    """Every output of ``kind`` ('image/png', 'text/plain', 'stream') over the code cells, in order."""
    found = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if kind == "stream" and output.get("output_type") == "stream":
                found.append(output["text"])
            elif kind in output.get("data", {}):
                found.append(output["data"][kind])
    return found


def _png_size(data: str) -> tuple[int, int]:
    raw = base64.b64decode(data)
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(raw[16:20], "big"), int.from_bytes(raw[20:24], "big")


@pytest.mark.parametrize("name", ["error_analysis.ipynb", "figure4.ipynb"])
def test_cells_call_the_package_and_take_parameters(name):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(notebook)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    assert 'os.environ.get("RSED_RUN")' in code[0].source and 'os.environ.get("RSED_DATA")' in code[0].source
    for cell in code:
        assert not cell.get("outputs"), "notebooks are stored without outputs"
        for line in cell.source.splitlines():  # no copied code: no definitions, no imports beyond rsed and display
            assert not line.lstrip().startswith(("def ", "class ", "lambda")), line
            if line.startswith(("import ", "from ")):
                assert line in ("import os", "from rsed.evaluation import analysis, plots", "from IPython.display import Image, display"), line


def test_error_analysis_notebook(tiny, kernel, monkeypatch):
    root, out = tiny
    notebook = _execute("error_analysis.ipynb", kernel, {"RSED_RUN": str(out), "RSED_DATA": str(root), "RSED_N_WORST": "2"}, monkeypatch)
    text = "\n".join(_outputs(notebook, "text/plain") + _outputs(notebook, "stream"))
    assert f"{out}: subset devtest, classes {CLASSES}" in text
    assert "scores agree with results/scores.json" in text
    assert "only one class in this run: no cross-class false alarms to count" in text  # the tiny run has one class
    for needle in ("-6.0", "6.0", "no event", "cafe", "error_rate", "onset_error"):
        assert needle in text, needle
    images = _outputs(notebook, "image/png")
    assert len(images) == 1 + 2  # the histogram, then one Figure 4 per worst file
    assert all(_png_size(data) == figure_pixels(1) for data in images[1:])


def test_figure4_notebook(tiny, kernel, monkeypatch):
    root, out = tiny
    notebook = _execute("figure4.ipynb", kernel, {"RSED_RUN": str(out), "RSED_DATA": str(root)}, monkeypatch)
    (image,) = _outputs(notebook, "image/png")
    assert _png_size(image) == figure_pixels(1)
    text = "\n".join(_outputs(notebook, "text/plain"))
    assert "mixture_devtest_" in text and "outcome" in text

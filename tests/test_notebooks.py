"""Every notebook in notebooks/ runs top to bottom (nbclient, a kernel of this very Python).

The notebooks are stored without outputs; here each one is executed in a fresh
kernel started from ``sys.executable``, with ``notebooks/`` as working
directory (as in Jupyter) and ``MPLBACKEND=Agg``. The notebooks write only to
temporary folders.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NB_DIR = REPO / "notebooks"
NOTEBOOKS = sorted(NB_DIR.glob("*.ipynb"))
KERNEL = "microgrid-test-python"
#: notebooks that need an optional extra, by stem
NEEDS = {"05_district_on_dask": ["dask", "distributed"]}


@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory):
    """A kernelspec that starts ipykernel with this interpreter, found first on JUPYTER_PATH."""
    pytest.importorskip("ipykernel")
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "microgrid tests",
                "language": "python",
            }
        )
    )
    return root


def test_notebooks_present():
    names = [p.stem for p in NOTEBOOKS]
    assert names == [
        "01_quickstart",
        "02_real_osm",
        "03_audit_existing_grids",
        "04_repartition",
        "05_district_on_dask",
        "06_hand_edits",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_outputs_stripped(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, f"{path.name}: strip outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, kernel_env, monkeypatch):
    for mod in NEEDS.get(path.stem, []):
        pytest.importorskip(mod)
    monkeypatch.setenv("JUPYTER_PATH", str(kernel_env))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(path, as_version=4)
    before = sorted(p.name for p in NB_DIR.iterdir())
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name=KERNEL, allow_errors=False, resources={"metadata": {"path": str(NB_DIR)}}
    )
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    assert sorted(p.name for p in NB_DIR.iterdir()) == before, "notebooks must not write next to themselves"

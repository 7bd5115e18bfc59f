"""Importing microgrid must stay light: no faces, no plotting, no Dask."""

from __future__ import annotations

import builtins
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

#: faces (command line, service, batch, maps) and every optional dependency
HEAVY = [
    "microgrid.cli",
    "microgrid.service",
    "microgrid.batch",
    "microgrid.viz",
    "matplotlib",
    "folium",
    "fastapi",
    "dask",
    "distributed",
    "uvicorn",
    "sqlalchemy",
    "psycopg",
    "geoalchemy2",
    "osmnx",
    "pyrosm",
    "openpyxl",
    "tqdm",
    "mapclassify",
    "sklearn",
]


def test_import_does_not_load_faces_or_extras():
    code = f"import json, sys, microgrid\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_import_does_not_load_argparse_cli():
    code = "import sys, microgrid\nprint('argparse' in sys.modules, 'microgrid.cli' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split()[-1] == "False"


def test_public_api():
    import microgrid

    for name in microgrid.__all__:
        assert hasattr(microgrid, name), name
    assert issubclass(microgrid.InputError, ValueError)
    assert issubclass(microgrid.InputError, microgrid.MicrogridError)
    assert issubclass(microgrid.InfeasibleError, microgrid.MicrogridError)
    assert issubclass(microgrid.InternalError, microgrid.MicrogridError)


def test_faces_load_on_first_use():
    code = (
        "import json, sys, microgrid\nf = microgrid.partition_many\n"
        "print(json.dumps(['microgrid.batch' in sys.modules, callable(microgrid.partition)]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [True, True]


def test_missing_extra_names_it():
    from microgrid._compat import MissingDependency, import_optional

    try:
        import_optional("no_such_module_here", "dask", "partition_many")
    except MissingDependency as exc:
        assert "'dask' extra" in str(exc) and "pip install" in str(exc)
        assert isinstance(exc, ImportError) and isinstance(exc, microgrid_error())
    else:  # pragma: no cover
        raise AssertionError("no error")


def microgrid_error():
    import microgrid

    return microgrid.MicrogridError


def test_extras_named_in_messages_match_pyproject():
    tomllib = pytest.importorskip("tomllib")
    from microgrid._compat import EXTRAS

    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text(encoding="utf-8"))
    declared = pyproject["project"]["optional-dependencies"]

    def names(reqs):
        return sorted(re.split(r"[<>=!~ ;]", r, maxsplit=1)[0] for r in reqs)

    for extra, packages in EXTRAS.items():
        assert names(packages.split()) == names(declared[extra]), extra


def test_partition_many_without_dask_says_which_extra(monkeypatch):
    """With Dask missing, a batch fails with the extra to install (CLI exit 2), not a ModuleNotFoundError."""
    import microgrid

    real_import = builtins.__import__

    def no_dask(name, *args, **kw):
        if name.split(".")[0] in ("dask", "distributed"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_dask)
    monkeypatch.delitem(sys.modules, "dask.distributed", raising=False)
    monkeypatch.delitem(sys.modules, "dask", raising=False)
    monkeypatch.delitem(sys.modules, "distributed", raising=False)
    hh, areas, roads = microgrid.samples.make_district(n_areas=2, households_per_area=300, seed=0)
    with pytest.raises(microgrid.MicrogridError, match=r"'dask' extra"):
        microgrid.partition_many(hh, areas, roads, area_id_col=_area_col(areas), progress=False)


def _area_col(areas):
    return next(c for c in areas.columns if c != areas.geometry.name and areas[c].is_unique)

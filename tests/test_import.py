"""Importing microgrid must stay light: no faces, no plotting, no Dask."""

from __future__ import annotations

import json
import subprocess
import sys

#: faces (command line, service, batch, maps) and every optional dependency
HEAVY = ["microgrid.cli", "microgrid.service", "microgrid.batch", "microgrid.viz", "matplotlib", "folium",
         "fastapi", "dask", "distributed", "uvicorn", "sqlalchemy", "psycopg", "geoalchemy2", "osmnx", "pyrosm",
         "openpyxl", "tqdm", "mapclassify", "sklearn"]


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
    code = ("import json, sys, microgrid\nf = microgrid.partition_many\n"
            "print(json.dumps(['microgrid.batch' in sys.modules, callable(microgrid.partition)]))")
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

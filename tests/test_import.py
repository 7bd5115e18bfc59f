"""Importing microgrid must stay light: no faces, no plotting, no Dask."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ["microgrid.cli", "matplotlib", "folium", "fastapi", "dask", "distributed", "uvicorn"]


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

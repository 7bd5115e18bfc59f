"""The documentation builds with ``mkdocs build --strict``: no warning, no broken link, no bad docstring."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MKDOCS = Path(sys.executable).with_name("mkdocs.exe" if os.name == "nt" else "mkdocs")

pytestmark = pytest.mark.skipif(
    not MKDOCS.exists() or not (ROOT / "mkdocs.yml").exists(),
    reason="mkdocs is not installed (pip install -e '.[docs]')",
)


def test_docs_build_strict(tmp_path):
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # the theme's end-of-life banner is no build warning
    t0 = time.perf_counter()
    res = subprocess.run(
        [str(MKDOCS), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    seconds = time.perf_counter() - t0
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert "WARNING" not in out, out
    site = tmp_path / "site"
    for page in (
        "index.html",
        "install/index.html",
        "concepts/index.html",
        "algorithm/index.html",
        "cli/index.html",
        "api/index.html",
        "http/index.html",
        "benchmarks/index.html",
        "changelog/index.html",
    ):
        assert (site / page).is_file(), page
    api = (site / "api" / "index.html").read_text(encoding="utf-8")
    import microgrid

    documented = {n for n in microgrid.__all__ if n not in ("__version__",)}
    homes = ("", "{n}.", "crs.", "batch.", "options.")  # where each public name is documented from
    missing = [n for n in sorted(documented) if not any(f'id="microgrid.{h.format(n=n)}{n}"' in api for h in homes)]
    assert not missing, f"public names missing from the API page: {missing}"
    cli = (site / "cli" / "index.html").read_text(encoding="utf-8")
    assert cli.count("usage: microgrid") >= 9, "the CLI page should show the --help of every subcommand"
    assert seconds < 120, f"the docs took {seconds:.0f} s to build"

"""Every fenced code block of README.md, README.zh-CN.md and docs/*.md runs as written.

Per Markdown file, in a fresh folder holding a link to the repository's
``data/``: bash blocks run in order (a ``microgrid`` command and ``python``
of this interpreter on PATH), and python blocks run in one namespace, in
order, so a block may use what an earlier one made (files or names).

Not run:

- lines (or ``&&`` steps) that make a virtual environment or ``pip install``:
  the test runs in the environment already installed;
- a block preceded by ``<!-- not run: REASON -->`` (a server that runs until
  stopped, a database or cluster of the reader's own, the whole test suite);
- blocks of a language that is not code (``json``, ``text``, ``console``
  transcripts of a running server).

``test_skipped_blocks_are_listed`` prints every block not run with its reason.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FILES = [ROOT / "README.md", ROOT / "README.zh-CN.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.S | re.M)
NOT_RUN = re.compile(r"<!--\s*not run:\s*(?P<reason>.+?)\s*-->\s*$")
BASH = {"bash", "sh", "shell"}
PYTHON = {"python", "py"}
#: ``&&`` steps left out: installing, which the test environment has done.
SETUP = re.compile(r"^\s*(python3? -m venv\b|\.\s+\S*activate\b|source\s+\S*activate\b|pip3? install\b)")


@dataclass
class Block:
    path: Path
    line: int
    lang: str
    code: str
    skip: str | None  # the reason it is not run

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def blocks(path: Path) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    out = []
    for m in FENCE.finditer(text):
        before = text[: m.start()].rstrip("\n").splitlines()
        prev = next((s for s in reversed(before) if s.strip()), "")
        marker = NOT_RUN.search(prev)
        lang = m.group("lang").lower()
        indent = len(m.group("indent"))
        code = "\n".join(s[indent:] for s in m.group("body").splitlines())
        skip = marker.group("reason") if marker else None
        if skip is None and lang not in BASH | PYTHON:
            skip = f"not code ({lang or 'no language'})"
        out.append(Block(path, text[: m.start()].count("\n") + 1, lang, code, skip))
    return out


def _logical_lines(code: str) -> list[str]:
    """Lines with backslash continuations joined; blank and comment-only lines dropped."""
    out, cur = [], ""
    for line in code.splitlines():
        if line.rstrip().endswith("\\"):
            cur += line.rstrip()[:-1] + " "
            continue
        cur += line
        if cur.strip() and not cur.lstrip().startswith("#"):
            out.append(cur)
        cur = ""
    return out


def bash_script(code: str) -> tuple[str, list[str]]:
    """The block as a script that stops at the first failing command, and the setup steps left out.

    ``microgrid validate`` may exit 1 (the map has violations: the documented outcome of an audit).
    """
    lines, left_out = [], []
    for line in _logical_lines(code):
        steps = [s for s in re.split(r"\s*&&\s*", line)]
        kept = [s for s in steps if not SETUP.match(s)]
        left_out += [s.strip() for s in steps if SETUP.match(s)]
        if not kept:
            continue
        cmd = " && ".join(kept)
        allowed = "1" if re.match(r"\s*microgrid\s+validate\b", cmd) else "0"
        lines.append(cmd)
        lines.append(
            f"__rc=$?; if [ $__rc -ne 0 ] && [ $__rc -ne {allowed} ]; then "
            f'echo "exit $__rc: "{shlex.quote(cmd)} >&2; exit 97; fi'
        )
    return "\n".join(lines) + "\n", left_out


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    (tmp_path / "data").symlink_to(ROOT / "data", target_is_directory=True)
    bin_ = tmp_path / ".bin"
    bin_.mkdir()
    for name, body in (
        ("microgrid", f'exec {shlex.quote(sys.executable)} -m microgrid "$@"'),
        ("python", f'exec {shlex.quote(sys.executable)} "$@"'),
        ("python3", f'exec {shlex.quote(sys.executable)} "$@"'),
    ):
        exe = bin_ / name
        exe.write_text(f"#!/bin/sh\n{body}\n")
        exe.chmod(0o755)
    src = str(ROOT / "src")
    env = {
        **os.environ,
        "PATH": f"{bin_}{os.pathsep}{os.environ.get('PATH', '')}",
        "MPLBACKEND": "Agg",
        "PYTHONPATH": os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p),
    }
    monkeypatch.chdir(tmp_path)
    return tmp_path, env


@pytest.mark.parametrize("path", [p for p in FILES if p.exists()], ids=lambda p: str(p.relative_to(ROOT)))
def test_doc_code_blocks_run(path, workdir):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder, env = workdir
    ns: dict = {"__name__": "__main__"}
    ran = 0
    for b in blocks(path):
        if b.skip:
            continue
        if b.lang in BASH:
            script, _ = bash_script(b.code)
            res = subprocess.run(
                ["bash", "-c", script], cwd=folder, env=env, capture_output=True, text=True, timeout=300
            )
            assert res.returncode == 0, f"{b.where}: bash block failed\n{res.stderr[-3000:]}\n{res.stdout[-1500:]}"
        else:
            with warnings.catch_warnings():
                # user code: library deprecation noise is not a failure of the docs
                warnings.simplefilter("default", DeprecationWarning)
                warnings.simplefilter("default", FutureWarning)
                # no CJK font here: Chinese labels draw as boxes (tests/test_viz_offline.py requires a font in CI)
                warnings.filterwarnings("default", message="no font with Chinese glyphs")
                warnings.filterwarnings("default", message=r"Glyph \d+ .*missing from font")
                try:
                    exec(compile(b.code, b.where, "exec"), ns)  # noqa: S102 - the documentation's own code
                except BaseException as exc:
                    raise AssertionError(f"{b.where}: python block failed: {type(exc).__name__}: {exc}") from exc
            plt.close("all")
        ran += 1
    assert ran or all(b.skip for b in blocks(path)), f"{path.name}: no block ran"


def test_skipped_blocks_are_listed(capsys):
    skipped = [(b.where, b.skip) for p in FILES if p.exists() for b in blocks(p) if b.skip]
    left_out = [
        (b.where, s)
        for p in FILES
        if p.exists()
        for b in blocks(p)
        if not b.skip and b.lang in BASH
        for s in bash_script(b.code)[1]
    ]
    with capsys.disabled():
        print("\ncode blocks not run:")
        for where, why in skipped:
            print(f"  {where}: {why}")
        print("install steps left out (the test environment is installed):")
        for where, step in left_out:
            print(f"  {where}: {step}")
    assert all(why for _, why in skipped)
    # a runnable language is only left out with a stated reason
    for p in FILES:
        for b in blocks(p) if p.exists() else []:
            if b.lang in BASH | PYTHON and b.skip:
                text = p.read_text(encoding="utf-8").splitlines()
                assert any(NOT_RUN.search(s) for s in text[max(0, b.line - 4) : b.line]), b.where


def test_install_lines_never_reach_the_unrelated_pypi_project():
    """``pip install "microgrid[...]"`` installs another project of that name from PyPI: install from the checkout."""
    bad = []
    for p in FILES + [ROOT / "src" / "microgrid" / "viz.py", ROOT / "src" / "microgrid" / "viz_assets.py"]:
        if not p.exists():
            continue
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"pip3? install\s+[\"']?microgrid\b", line):
                bad.append(f"{p.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not bad, "\n".join(bad)


def test_block_parser():
    text = (
        "# t\n\n```bash\npython3 -m venv .venv && . .venv/bin/activate && pip install . && microgrid x\n```\n\n"
        "<!-- not run: starts a server -->\n```bash\nmicrogrid serve\n```\n\n```json\n{}\n```\n"
    )
    p = ROOT / "tests" / "_doc_blocks_sample.md"
    try:
        p.write_text(text, encoding="utf-8")
        bs = blocks(p)
    finally:
        p.unlink()
    assert [(b.lang, b.skip) for b in bs] == [("bash", None), ("bash", "starts a server"), ("json", "not code (json)")]
    script, left = bash_script(bs[0].code)
    assert left == ["python3 -m venv .venv", ". .venv/bin/activate", "pip install ."]
    assert script.startswith("microgrid x\n")

"""The house rules that tools can check: short functions, numpydoc on the public API, nothing lost in `__all__`."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "microgrid"

#: most lines a function body may have (its docstring not counted)
MAX_LINES = 100


def _bodies():
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = node.body
                first = body[0]
                doc = (
                    isinstance(first, ast.Expr)
                    and isinstance(getattr(first, "value", None), ast.Constant)
                    and isinstance(first.value.value, str)
                )
                start = (body[1].lineno if len(body) > 1 else first.end_lineno) if doc else first.lineno
                yield path.relative_to(SRC.parent), node.name, node.end_lineno - start + 1


def test_no_function_over_100_lines():
    long = [f"{p}:{name} has {n} lines" for p, name, n in _bodies() if n > MAX_LINES]
    assert not long, "split these into stages: " + "; ".join(long)


def test_public_functions_have_type_hints_and_docstrings():
    import inspect

    import microgrid

    missing = []
    for name in microgrid.__all__:
        obj = getattr(microgrid, name)
        if not (inspect.isfunction(obj) or inspect.isclass(obj)):
            continue
        if not (obj.__doc__ or "").strip():
            missing.append(f"{name}: no docstring")
        if inspect.isfunction(obj):
            sig = inspect.signature(obj)
            if sig.return_annotation is inspect.Signature.empty:
                missing.append(f"{name}: no return annotation")
    assert not missing, missing


# ---------------------------------------------------------------- floors: what may import what

#: The floors of docs/architecture.md, lowest first. A module imports (at module level) only from its own floor or
#: below; a face is loaded only on first use, from inside a function (Plan.plot loads viz).
FLOORS = {
    "ground": {"errors", "_types", "_compat", "options", "barriers", "crs", "samples", "plan"},
    "io": {"io"},
    "stages": {"inputs", "sites", "units", "graph", "naming"},
    "operations": {"partition", "validate", "repair", "repartition", "locate", "teams", "ledger", "edits"},
    "faces": {"cli", "service", "batch", "viz", "viz_assets", "__main__"},
}
_ORDER = list(FLOORS)


def _floor(module: str) -> int | None:
    """The floor of ``microgrid.x.y`` (by its first part below the package); None for the package itself."""
    top = module.split(".")[1] if module.count(".") else None
    if top is None:
        return None
    for i, names in enumerate(FLOORS.values()):
        if top in names:
            return i
    raise AssertionError(f"{module} is on no floor: add it to FLOORS and to docs/architecture.md")


def _module_imports() -> dict[str, set[str]]:
    """Module-level ``from .x import`` edges of every module (imports under ``if TYPE_CHECKING`` are hints only)."""
    edges = {}
    for path in sorted(SRC.rglob("*.py")):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_pkg else parts)
        pkg = name.split(".") if is_pkg else name.split(".")[:-1]
        deps = set()
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ImportFrom) and node.level > 0:
                base = pkg[: len(pkg) - node.level + 1]
                if node.module:
                    deps.add(".".join([*base, node.module]))
                else:  # from . import x: a submodule, or a name of the package itself (__version__)
                    for a in node.names:
                        sub = SRC.parent.joinpath(*base, a.name)
                        deps.add(".".join([*base, a.name] if sub.is_dir() or sub.with_suffix(".py").exists() else base))
        edges[name] = deps
    return edges


def _upward(edges: dict[str, set[str]]) -> list[str]:
    out = []
    for mod, deps in edges.items():
        here = _floor(mod)
        for dep in deps:
            there = _floor(dep)
            if here is not None and there is not None and there > here:
                out.append(f"{mod} ({_ORDER[here]}) imports {dep} ({_ORDER[there]})")
            if here is None and there == _ORDER.index("faces"):
                out.append(f"microgrid imports the face {dep}")
    return sorted(out)


def test_modules_import_only_from_their_floor_or_below():
    assert _upward(_module_imports()) == []


def test_the_floor_check_finds_an_upward_import():
    planted = {
        "microgrid.io.osm": {"microgrid.inputs"},
        "microgrid": {"microgrid.batch"},
        "microgrid.inputs": {"microgrid.io", "microgrid.crs"},
    }
    assert _upward(planted) == [
        "microgrid imports the face microgrid.batch",
        "microgrid.io.osm (io) imports microgrid.inputs (stages)",
    ]

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
                doc = isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant) \
                    and isinstance(first.value.value, str)
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

"""Griffe extension for the API pages: numpydoc as microgrid writes it, rendered right.

- Sphinx roles (``:func:`partition```, ``:class:`~x.Plan```) become inline
  code: mkdocstrings does not read them, and would show the role verbatim.
- griffe gives every name of a grouped parameter (``id_col, persons_col :
  str``) the signature default of the first name; each name gets its own.
- ``__all__ = [..., *NAMES]`` with ``NAMES`` a tuple of strings in the same
  module (``microgrid.crs.POINT_CONVERSIONS``): griffe reads the names.
- The point conversions of ``microgrid.crs`` get the Parameters and Returns
  ``microgrid.crs`` adds at run time.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap

import griffe

_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|data|attr|mod|exc|obj|const):`~?([^`]+)`")


class GroupedParameterDefaults(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        doc = obj.docstring
        if doc is not None and ":`" in doc.value:
            doc.value = _ROLE.sub(r"`\1`", doc.value)

    def on_module_members(self, *, mod: griffe.Module, **kwargs) -> None:
        if not mod.exports:
            return
        names: list = []
        for export in mod.exports:
            member = mod.members.get(export.name) if isinstance(export, griffe.ExprName) else None
            value = member.value if member is not None and not member.is_alias and export.parent is mod else None
            names.extend(ast.literal_eval(str(value)) if value is not None else [export])
        mod.exports = names

    def on_function(self, *, func: griffe.Function, **kwargs) -> None:
        doc = func.docstring
        if doc is not None and func.parent is not None and func.parent.path == "microgrid.crs":
            from microgrid.crs import POINT_CONVERSIONS, _point_conversion_doc

            if func.name in POINT_CONVERSIONS:
                doc.value = inspect.cleandoc(_point_conversion_doc(func.name, textwrap.indent(doc.value, "    ")))
        if doc is None or doc.parser is None or "," not in doc.value:
            return
        for section in doc.parsed:
            if section.kind is griffe.DocstringSectionKind.parameters:
                for param in section.value:
                    if param.name in func.parameters:
                        param.value = func.parameters[param.name].default

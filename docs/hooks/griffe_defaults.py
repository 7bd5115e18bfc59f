"""Griffe extension for the API pages: numpydoc as microgrid writes it, rendered right.

- Sphinx roles (``:func:`partition```, ``:class:`~x.Plan```) become inline
  code: mkdocstrings does not read them, and would show the role verbatim.
- griffe gives every name of a grouped parameter (``id_col, persons_col :
  str``) the signature default of the first name; each name gets its own.
"""

from __future__ import annotations

import re

import griffe

_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|data|attr|mod|exc|obj|const):`~?([^`]+)`")


class GroupedParameterDefaults(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        doc = obj.docstring
        if doc is not None and ":`" in doc.value:
            doc.value = _ROLE.sub(r"`\1`", doc.value)

    def on_function(self, *, func: griffe.Function, **kwargs) -> None:
        doc = func.docstring
        if doc is None or doc.parser is None or "," not in doc.value:
            return
        for section in doc.parsed:
            if section.kind is griffe.DocstringSectionKind.parameters:
                for param in section.value:
                    if param.name in func.parameters:
                        param.value = func.parameters[param.name].default

"""mkdocs hook: replace ``<!-- microgrid-help CMD -->`` in a page with ``microgrid CMD --help``.

The command line reference is thereby always the parser's own text; a
renamed option changes the docs on the next build.
"""

from __future__ import annotations

import os
import re

_MARK = re.compile(r"^<!-- microgrid-help(?: (?P<cmd>[\w-]+))? -->$", re.M)


def _help(cmd: str | None) -> str:
    from microgrid.cli import _build_parser

    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal: fix the width so the build is reproducible
    try:
        parser = _build_parser()
        if cmd is None:
            return parser.format_help()
        sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
        if cmd not in sub.choices:
            raise KeyError(f"docs: no subcommand {cmd!r} (have {', '.join(sub.choices)})")
        return sub.choices[cmd].format_help()
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old


def on_page_markdown(markdown: str, **kwargs) -> str:
    return _MARK.sub(lambda m: f"```text\n{_help(m.group('cmd')).rstrip()}\n```", markdown)

"""The error hierarchy: every problem a user can act on is a MicrogridError."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["MicrogridError", "InputError", "InfeasibleError", "InternalError"]


class MicrogridError(Exception):
    """Base class of every error microgrid raises on purpose."""


class InputError(MicrogridError, ValueError):
    """The inputs are wrong: the message says what, which ids, and how to fix it.

    Attributes
    ----------
    problems : list of str
        One line per problem found; all problems are collected before raising.
    """

    def __init__(self, problems: str | list[str]):
        if isinstance(problems, str):
            problems = [problems]
        self.problems = list(problems)
        if len(self.problems) == 1:
            msg = self.problems[0]
        else:
            msg = f"{len(self.problems)} problems with the inputs:\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(msg)


class InfeasibleError(MicrogridError):
    """No plan can meet the hard constraints.

    Attributes
    ----------
    cause : str
        A short machine-readable cause: ``"heavy_site"``, ``"small_part"`` or
        ``"no_grid_count"``.
    ids : list
        The household ids (or unit ids) involved.
    """

    def __init__(self, message: str, *, cause: str = "", ids: list | None = None):
        super().__init__(message)
        self.cause = cause
        self.ids = list(ids or [])


class InternalError(MicrogridError, AssertionError):
    """A result failed microgrid's own end-of-run invariant checks (a bug: please report)."""


def ids_preview(ids: Iterable[object], limit: int = 10) -> str:
    """Format ``ids`` for a message: the first ``limit`` and a count of the rest."""
    ids = list(ids)
    shown = ", ".join(repr(i) if isinstance(i, str) else str(i) for i in ids[:limit])
    if len(ids) > limit:
        shown += f", ... ({len(ids) - limit} more)"
    return shown


def no_column(what: str, col: object, columns: Iterable[object], option: str, flag: str) -> str:
    """The message for a missing column: which, the columns there are, and the option (and CLI flag) to name it."""
    return (
        f"{what} have no column {col!r} (columns: {', '.join(map(str, columns))}); "
        f"name the right one with {option}=... (CLI: {flag})"
    )

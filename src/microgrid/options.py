"""One record of every option of a partition, checked in one place.

:class:`PartitionOptions` is what :func:`microgrid.partition` runs with and
what a plan stores (``plan.options``, the ``plan_info`` table of a plan file),
so a run can be reproduced from its own output. The CLI's flags, the HTTP
service's request model and :func:`microgrid.partition_many` take the same
names with the same defaults (``tests/test_options.py`` enumerates the
fields against each of them).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from ._types import CRSLike
from .errors import InputError

__all__ = ["Level", "PartitionOptions"]


@dataclass(frozen=True)
class Level:
    """One level of nested grids: a name and its bounds of persons per grid.

    Examples
    --------
    >>> Level("microgrid", 200, 300)
    Level(name='microgrid', min_persons=200, max_persons=300)
    """

    name: str
    min_persons: int
    max_persons: int


#: Values each choice option accepts.
CHOICES: dict[str, tuple] = {
    "outside": ("error", "drop", "snap", "nearest"),
    "on_infeasible": ("raise", "flag"),
    "divide_sites": ("auto", "never"),
    "input_crs": (None, "wgs84", "gcj02", "bd09"),
}


@dataclass(frozen=True)
class PartitionOptions:
    """Every option of :func:`microgrid.partition` (see its docstring for each one).

    Build it with keywords (``PartitionOptions(max_persons=320)``); it is
    checked when made, and :meth:`replace` gives a changed copy. The older
    names ``oversize=`` and ``stack_col=`` are accepted by
    :meth:`from_kwargs` and translated.

    Examples
    --------
    >>> opts = PartitionOptions(min_persons=150, max_persons=250)
    >>> opts.replace(seed=3).seed
    3
    >>> PartitionOptions.from_dict(opts.to_dict()) == opts
    True
    >>> PartitionOptions(min_persons=300, max_persons=200)
    Traceback (most recent call last):
    ...
    microgrid.errors.InputError: min_persons=300 is greater than max_persons=200; swap them
    """

    min_persons: int = 200
    max_persons: int = 300
    n_grids: int | None = None
    seed: int | None = 0
    id_col: str = "household_id"
    persons_col: str = "persons"
    default_persons: int | None = None
    kind_col: str | None = None
    crs: str | None = None
    outside: str = "error"
    snap_tolerance: float = 2.0
    on_infeasible: str = "raise"
    tries: int = 6
    restarts: int = 3
    refine: bool = True
    compactness: float = 0.5
    code_prefix: str = "000000000000"
    levels: tuple[Level, ...] | None = None
    parent_id_col: str | None = None
    input_crs: str | None = None
    divide_sites: str = "auto"
    entrance_col: str | None = None
    floor_col: str | None = None
    #: not an option a user sets: a numpy Generator passed as ``seed`` (a plan made with one cannot be replayed)
    rng: Any = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        if self.levels is not None and not isinstance(self.levels, tuple):
            object.__setattr__(self, "levels", tuple(self.levels) if isinstance(self.levels, list) else self.levels)
        if self.input_crs is not None and isinstance(self.input_crs, str):
            object.__setattr__(self, "input_crs", self.input_crs.lower().replace("-", "").replace("_", ""))
        if self.crs is not None and not isinstance(self.crs, str):
            object.__setattr__(self, "crs", _crs_text(self.crs))
        self.check()

    # ---------------------------------------------------------------- checks

    def check(self) -> None:
        """Raise one :class:`InputError` listing every bad option."""
        problems = _bounds_problems(self.min_persons, self.max_persons)
        if self.n_grids is not None and not _whole(self.n_grids, 1):
            problems.append(f"n_grids must be a whole number >= 1 or None, got {self.n_grids!r}")
        if not (self.seed is None or _whole(self.seed, 0)):
            problems.append(f"seed must be a whole number >= 0, a numpy Generator or None, got {self.seed!r}")
        for name in ("tries", "restarts"):
            if not _whole(getattr(self, name), 1):
                problems.append(f"{name} must be a whole number >= 1, got {getattr(self, name)!r}")
        if not _nonnegative(self.compactness):
            problems.append(f"compactness must be a number >= 0 (0 = lines only), got {self.compactness!r}")
        if not _nonnegative(self.snap_tolerance):
            problems.append(f"snap_tolerance must be a number >= 0, got {self.snap_tolerance!r}")
        if not isinstance(self.refine, (bool, np.bool_)):
            problems.append(f"refine must be True or False, got {self.refine!r}")
        if self.default_persons is not None and not _whole(self.default_persons, 0):
            problems.append(f"default_persons must be a whole number >= 0 or None, got {self.default_persons!r}")
        for name, allowed in CHOICES.items():
            if getattr(self, name) not in allowed:
                shown = ", ".join(repr(a) for a in allowed)
                problems.append(f"{name} must be one of {shown}; got {getattr(self, name)!r}")
        for name in ("id_col", "persons_col"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                problems.append(f"{name} must be a column name, got {getattr(self, name)!r}")
        for name in ("kind_col", "parent_id_col", "entrance_col", "floor_col"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, str) or not v):
                problems.append(f"{name} must be a column name or None, got {v!r}")
        if self.levels is not None:
            problems.extend(_levels_problems(self.levels, self.n_grids))
        if problems:
            raise InputError(problems)
        from .naming import check_prefix

        check_prefix(self.code_prefix)

    # ---------------------------------------------------------------- building

    @classmethod
    def from_kwargs(cls, **kw: Any) -> PartitionOptions:
        """Options from keyword arguments, translating the older names and a Generator seed.

        ``oversize="stack"`` is ``divide_sites="auto"``; ``oversize="flag"`` is
        ``divide_sites="never"`` with ``on_infeasible="flag"``;
        ``stack_col`` is ``entrance_col``.
        """
        oversize = kw.pop("oversize", None)
        stack_col = kw.pop("stack_col", None)
        unknown = sorted(set(kw) - {f.name for f in fields(cls)})
        if unknown:
            raise InputError(f"unknown options: {', '.join(unknown)} (see microgrid.PartitionOptions)")
        if oversize not in (None, "flag", "stack"):
            raise InputError(f"oversize must be None, 'flag' or 'stack', got {oversize!r}")
        if oversize == "flag":
            kw["divide_sites"] = "never"
            kw["on_infeasible"] = "flag"
        if stack_col is not None and kw.get("entrance_col") is None:
            kw["entrance_col"] = stack_col
        seed = kw.get("seed", 0)
        if isinstance(seed, np.random.Generator):
            kw["seed"], kw["rng"] = None, seed
        return cls(**kw)

    def replace(self, **kw: Any) -> PartitionOptions:
        """A copy with some options changed (checked again)."""
        return dataclasses.replace(self, **kw)

    @property
    def random(self):
        """What seeds the run: the Generator given as seed, else the seed."""
        return self.rng if self.rng is not None else self.seed

    @property
    def specs(self) -> list[tuple[str, int, int]]:
        """``(name, min, max)`` per level, coarse to fine (one level "grid" without ``levels``)."""
        if self.levels:
            return [(lv.name, int(lv.min_persons), int(lv.max_persons)) for lv in self.levels]
        return [("grid", int(self.min_persons), int(self.max_persons))]

    # ---------------------------------------------------------------- records

    def to_dict(self) -> dict:
        """JSON-able: what a plan file stores."""
        out = {}
        for f in fields(self):
            if f.name == "rng":
                continue
            v = getattr(self, f.name)
            if f.name == "levels" and v is not None:
                v = [[lv.name, int(lv.min_persons), int(lv.max_persons)] for lv in v]
            elif isinstance(v, (np.integer,)):
                v = int(v)
            elif isinstance(v, (np.floating,)):
                v = float(v)
            out[f.name] = v
        if self.rng is not None:
            out["seed"] = "generator"
        return out

    @classmethod
    def from_dict(cls, d: dict) -> PartitionOptions:
        """Options from :meth:`to_dict` (unknown keys are an error; missing keys take the defaults)."""
        d = dict(d)
        if d.get("seed") == "generator":
            raise InputError("this plan was made with a numpy Generator as seed; it cannot be replayed exactly")
        if d.get("levels") is not None:
            d["levels"] = tuple(Level(*lv) for lv in d["levels"])
        return cls.from_kwargs(**d)


def _whole(v: object, least: int) -> bool:
    return bool(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and least <= v <= 10**12)


def _nonnegative(v: object) -> bool:
    """A finite real number >= 0 (not a bool)."""
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        return False
    return bool(math.isfinite(v) and v >= 0)


def _bounds_problems(lo: Any, hi: Any) -> list[str]:
    problems = []
    for name, val in (("min_persons", lo), ("max_persons", hi)):
        if not _whole(val, 0) or val > 10**9:
            problems.append(f"{name} must be a whole number >= 0, got {val!r}")
    if not problems and lo > hi:
        problems.append(f"min_persons={lo} is greater than max_persons={hi}; swap them")
    if not problems and hi < 1:
        problems.append("max_persons must be at least 1")
    return problems


def _levels_problems(levels: tuple, n_grids: int | None) -> list[str]:
    problems = []
    if n_grids is not None:
        problems.append("n_grids cannot be combined with levels; set each level's bounds instead")
    if not isinstance(levels, (list, tuple)) or not levels:
        return problems + ["levels must be a non-empty list of Level(name, min_persons, max_persons)"]
    names = []
    for lv in levels:
        if not isinstance(lv, Level):
            problems.append(f"levels must hold Level objects, got {lv!r}")
            continue
        names.append(lv.name)
        if not isinstance(lv.name, str) or not lv.name.isidentifier():
            problems.append(f"level name {lv.name!r} must be a simple word (letters, digits, _)")
        problems.extend(f"level {lv.name}: {p}" for p in _bounds_problems(lv.min_persons, lv.max_persons))
    if len(set(names)) != len(names):
        problems.append(f"level names must be unique, got {names}")
    ok = [lv for lv in levels if isinstance(lv, Level)]
    for a, b in zip(ok, ok[1:]):
        if b.max_persons > a.max_persons or b.min_persons > a.min_persons:
            problems.append(
                f"levels go coarse to fine: {b.name} ({b.min_persons}..{b.max_persons}) cannot be "
                f"larger than {a.name} ({a.min_persons}..{a.max_persons})"
            )
    return problems


def _crs_text(crs: CRSLike) -> str:
    """A CRS given as an object, as text a plan can store (EPSG code when it has one, else WKT)."""
    try:
        import pyproj

        c = pyproj.CRS.from_user_input(crs)
    except Exception:  # checked properly where the CRS is used (crs.check_crs): keep what was given
        return str(crs)
    code = c.to_epsg()
    return f"EPSG:{code}" if code else c.to_wkt()

"""microgrid: divide a community into contiguous, population-balanced micro-grids along its roads.

按线划分、不漏一地、不漏一户 — divide along lines, leave out no land, leave out
no household, and prove it.
"""

from __future__ import annotations

from . import samples
from .api import Level, partition
from .batch import BatchResult, partition_many
from .crs import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    from_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from .errors import InfeasibleError, InputError, InternalError, MicrogridError
from .inputs import estimate_households, read_layer
from .ledger import ledger_table, write_ledger
from .locate import locate
from .osm import OSMLayers, from_osm
from .plan import Plan, ValidationReport, read_plan
from .repair import RepairResult, repair
from .repartition import ChangeReport, repartition
from .teams import Teams, assign_teams
from .validate import validate

__version__ = "0.1.0"

__all__ = [
    "partition",
    "Level",
    "partition_many",
    "BatchResult",
    "validate",
    "repair",
    "repartition",
    "ChangeReport",
    "RepairResult",
    "estimate_households",
    "locate",
    "ledger_table",
    "assign_teams",
    "Teams",
    "write_ledger",
    "read_layer",
    "read_plan",
    "Plan",
    "ValidationReport",
    "MicrogridError",
    "InputError",
    "InfeasibleError",
    "InternalError",
    "samples",
    "from_osm",
    "OSMLayers",
    "to_wgs84",
    "from_wgs84",
    "wgs84_to_gcj02",
    "gcj02_to_wgs84",
    "gcj02_to_bd09",
    "bd09_to_gcj02",
    "wgs84_to_bd09",
    "bd09_to_wgs84",
    "__version__",
]

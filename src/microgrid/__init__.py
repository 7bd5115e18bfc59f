"""microgrid: divide a community into contiguous, population-balanced micro-grids along its roads.

按线划分、不漏一地、不漏一户 — divide along lines, leave out no land, leave out
no household, and prove it.
"""

from __future__ import annotations

from . import samples
from .api import Level, partition
from .batch import BatchResult, partition_many
from .errors import InfeasibleError, InputError, InternalError, MicrogridError
from .inputs import estimate_households, read_layer
from .ledger import ledger_table, write_ledger
from .locate import locate
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
    "__version__",
]

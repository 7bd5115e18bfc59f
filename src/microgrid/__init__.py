"""microgrid: divide a community into contiguous, population-balanced micro-grids along its roads.

按线划分、不漏一地、不漏一户 — divide along lines, leave out no land, leave out
no household, and prove it.
"""

from __future__ import annotations

__version__ = "0.1.0"  # the one place: pyproject.toml reads it

from . import samples
from .crs import POINT_CONVERSIONS, from_wgs84, to_wgs84

# the point conversions: `as` marks them re-exported for type checkers, which do not read *POINT_CONVERSIONS
from .crs import bd09_to_gcj02 as bd09_to_gcj02
from .crs import bd09_to_wgs84 as bd09_to_wgs84
from .crs import gcj02_to_bd09 as gcj02_to_bd09
from .crs import gcj02_to_wgs84 as gcj02_to_wgs84
from .crs import wgs84_to_bd09 as wgs84_to_bd09
from .crs import wgs84_to_gcj02 as wgs84_to_gcj02
from .edits import apply_changes
from .errors import InfeasibleError, InputError, InternalError, MicrogridError
from .inputs import estimate_households
from .io import read_layer
from .io.osm import OSMLayers, from_osm
from .ledger import ledger_table, write_ledger
from .locate import locate
from .options import Level, PartitionOptions  # noqa: I001
from .partition import partition  # last: binds the function over the subpackage of the same name
from .plan import Plan, ValidationReport, read_plan
from .repair import RepairResult, repair
from .repartition import ChangeReport, repartition
from .teams import Teams, assign_teams
from .validate import validate

__all__ = [
    "partition",
    "Level",
    "PartitionOptions",
    "partition_many",
    "BatchResult",
    "validate",
    "repair",
    "repartition",
    "apply_changes",
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
    *POINT_CONVERSIONS,
    "__version__",
]


def __getattr__(name: str):
    """Faces load on first use: ``microgrid.partition_many`` imports the Dask batch module only then."""
    if name in ("partition_many", "BatchResult"):
        from . import batch

        return getattr(batch, name)
    raise AttributeError(f"module 'microgrid' has no attribute {name!r}")

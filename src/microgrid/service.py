"""HTTP service: ``microgrid serve`` (FastAPI, the ``service`` extra).

Endpoints (JSON in, JSON out, GeoJSON FeatureCollections for geodata):

- ``POST /v1/partition``: households, boundary, barriers, landmarks and the
  parameters of :func:`microgrid.partition` -> grids, households, report.
- ``POST /v1/validate``: grids, households, boundary, barriers -> report.
- ``POST /v1/repartition``: the current plan (grids, households), the new
  households and the boundary -> the updated plan and what changed.
- ``POST /v1/locate``: grids and points -> the grid of each point.
- ``GET /healthz``.

Coordinates are WGS84 longitude/latitude (RFC 7946) unless the request has a
``crs`` member (e.g. ``"EPSG:4547"``); answers use the request's CRS.
Errors are ``application/problem+json`` (RFC 9457) carrying the library's
message, and the ``ids`` involved where there are any. Bad input is a 4xx;
a fault of the service itself is a 500 with an ``incident`` id that is also
logged with its traceback.

The event loop only reads bodies (each chunk within ``body_timeout`` seconds,
at most ``max_body_bytes``); a body nested deeper than ``max_depth`` is
refused before it is parsed. Parsing, validation, the CPU work and the JSON
of the answer run in a worker process of their own (started from a
preloaded fork server, so it costs milliseconds), never on the event loop:
at most ``max_jobs`` at once, further requests wait in a queue of
``max_queue`` and beyond that get 503. A job that runs past ``timeout``
seconds is killed and answered with 504; one that needs more than
``max_job_mb`` of memory gets 507.

Examples
--------
>>> from microgrid.service import create_app
>>> app = create_app(max_jobs=1, timeout=30)
>>> sorted(r.path for r in app.routes if r.path.startswith("/v1"))
['/v1/changes', '/v1/locate', '/v1/partition', '/v1/repartition', '/v1/validate']
"""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing
import os
import time
import traceback
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import __version__
from .errors import InputError

__all__ = ["create_app", "serve", "run_job", "parse_request", "nesting_depth", "Refused"]

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"
DEFAULT_MAX_BODY = 50 * 1024 * 1024
DEFAULT_TIMEOUT = 300.0
DEFAULT_BODY_TIMEOUT = 30.0  # seconds for each chunk of a body; the whole body gets 4 times that
DEFAULT_MAX_JOB_MB = 4096  # memory a job may add to its worker process (address space, RLIMIT_AS)
DEFAULT_MAX_DEPTH = 64  # GeoJSON needs at most ~12 levels (a MultiPolygon in a plan in a body)
_INLINE_PARSE = 256 * 1024  # bodies up to this size are also checked on the event loop: bad ones answer at once

# ------------------------------------------------------------------ request models

_Int = Annotated[int, Field(ge=0, le=1_000_000_000)]


class Geometry(BaseModel):
    """A GeoJSON geometry object (RFC 7946 §3.1)."""

    model_config = ConfigDict(extra="allow")
    type: Literal[
        "Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon", "GeometryCollection"
    ]
    coordinates: Any = None
    geometries: list[Any] | None = None


class Feature(BaseModel):
    """A GeoJSON Feature; ``properties`` become columns."""

    model_config = ConfigDict(extra="allow")
    type: Literal["Feature"]
    geometry: Geometry | None
    properties: dict[str, Any] | None = None
    id: str | int | None = None


class FeatureCollection(BaseModel):
    """A GeoJSON FeatureCollection."""

    model_config = ConfigDict(extra="allow")
    type: Literal["FeatureCollection"]
    features: list[Feature]


_CrsText = Annotated[str, StringConstraints(strict=True, max_length=20_000)]
Crs = Annotated[
    _CrsText | StrictInt | dict[str, Any] | None,
    Field(
        description="CRS of all coordinates in the request and the answer; default WGS84 (RFC 7946)",
        examples=["EPSG:4547"],
    ),
]


class PartitionRequest(BaseModel):
    """Body of ``POST /v1/partition``: the arguments of :func:`microgrid.partition`."""

    model_config = ConfigDict(extra="forbid")
    households: FeatureCollection = Field(description="household points with id and persons properties")
    boundary: FeatureCollection = Field(description="the community/village polygon(s)")
    barriers: FeatureCollection | None = Field(None, description="roads, lanes, rivers, walls (lines)")
    landmarks: FeatureCollection | None = Field(None, description="polygons never split (schools, markets)")
    crs: Crs = None
    min_persons: _Int = 200
    max_persons: _Int = 300
    n_grids: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)] = 0
    id_col: str = "household_id"
    persons_col: str = "persons"
    default_persons: _Int | None = None
    kind_col: str | None = None
    outside: Literal["error", "drop", "snap", "nearest"] = "error"  # nearest: a synonym of snap
    snap_tolerance: Annotated[float, Field(ge=0, le=1000, allow_inf_nan=False)] = 2.0
    on_infeasible: Literal["raise", "flag"] = "raise"
    tries: Annotated[int, Field(ge=1, le=50)] = 6
    restarts: Annotated[int, Field(ge=1, le=50)] = 3
    compactness: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)] = 0.5
    code_prefix: str = "000000000000"
    refine: bool = True
    input_crs: Literal["wgs84", "gcj02", "bd09"] | None = None
    divide_sites: Literal["auto", "never"] = "auto"
    entrance_col: str | None = None
    floor_col: str | None = None
    oversize: Literal["flag", "stack"] | None = None
    stack_col: str | None = None


class ValidateRequest(BaseModel):
    """Body of ``POST /v1/validate``: the arguments of :func:`microgrid.validate`."""

    model_config = ConfigDict(extra="forbid")
    grids: FeatureCollection
    households: FeatureCollection
    boundary: FeatureCollection
    barriers: FeatureCollection | None = None
    crs: Crs = None
    min_persons: _Int = 200
    max_persons: _Int = 300
    grid_id_col: str = "grid_id"
    household_id_col: str = "household_id"
    persons_col: str = "persons"
    assignment_col: str | None = None
    stack_col: str | None = "stack_id"


class PlanLayers(BaseModel):
    """A plan as returned by ``/v1/partition``: its grids and households."""

    model_config = ConfigDict(extra="allow")
    grids: FeatureCollection
    households: FeatureCollection


class RepartitionRequest(BaseModel):
    """Body of ``POST /v1/repartition``: the arguments of :func:`microgrid.repartition`."""

    model_config = ConfigDict(extra="forbid")
    plan: PlanLayers
    households: FeatureCollection = Field(description="the full, current set of households")
    boundary: FeatureCollection
    barriers: FeatureCollection | None = None
    crs: Crs = None
    min_persons: _Int | None = None
    max_persons: _Int | None = None
    id_col: str = "household_id"
    persons_col: str = "persons"
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)] = 0
    max_rings: Annotated[int, Field(ge=0, le=20)] = 4


class LocateRequest(BaseModel):
    """Body of ``POST /v1/locate``: grids and the points to route to them."""

    model_config = ConfigDict(extra="forbid")
    grids: FeatureCollection
    points: FeatureCollection
    crs: Crs = None
    grid_id_col: str = "grid_id"


class Problem(BaseModel):
    """An error answer (RFC 9457 problem details)."""

    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    detail: str
    problems: list[str] | None = None
    ids: list[Any] | None = None
    cause: str | None = None


# ------------------------------------------------------------------ request bodies


class ChangesRequest(BaseModel):
    """Body of ``POST /v1/changes``: a plan and a change list, as :func:`microgrid.apply_changes` takes them."""

    model_config = ConfigDict(extra="forbid")
    plan: PlanLayers
    changes: list[dict] = Field(
        description='rows {"op": "add"|"remove"|"move"|"persons", "household_id", '
        '"x", "y", "persons"}; x/y in the request crs',
        max_length=100_000,
    )
    boundary: FeatureCollection
    barriers: FeatureCollection | None = None
    crs: Crs = None
    min_persons: _Int | None = None
    max_persons: _Int | None = None
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)] = 0
    max_rings: Annotated[int, Field(ge=0, le=20)] = 4
    locked: list[int | str] | None = None
    pinned: dict[str, int | str] | None = None


_MODELS: dict[str, type[BaseModel]] = {
    "partition": PartitionRequest,
    "validate": ValidateRequest,
    "repartition": RepartitionRequest,
    "locate": LocateRequest,
    "changes": ChangesRequest,
}
_GEODATA = {"households", "boundary", "barriers", "landmarks", "grids", "points", "plan"}


class _Collection(BaseModel):
    """What a request's FeatureCollection is checked for here; each feature is checked as it is read.

    Validating every feature with the :class:`Feature` model costs ~30 us a
    feature (10 s for a maximal body); :func:`microgrid.io.geojson.read_feature_collection`
    checks the same and names the features at fault.
    """

    model_config = ConfigDict(extra="allow")
    type: Literal["FeatureCollection"]
    features: list[Any]


class _Plan(BaseModel):
    model_config = ConfigDict(extra="allow")
    grids: _Collection
    households: _Collection


def _lean(model: type[BaseModel]) -> type[BaseModel]:
    """``model`` with its geodata members checked as :class:`_Collection` (the OpenAPI spec shows ``model``)."""
    from pydantic import create_model

    fields: dict[str, Any] = {}
    for name, f in model.model_fields.items():
        if name == "plan":
            fields[name] = (_Plan, ...)
        elif name in _GEODATA:
            fields[name] = (_Collection, ...) if f.is_required() else (_Collection | None, f.default)
    return create_model(model.__name__, __base__=model, **fields)


_CHECKS = {kind: _lean(m) for kind, m in _MODELS.items()}


class Refused(InputError):
    """A request body refused before its job runs (not JSON, nested too deeply, not the schema).

    Attributes
    ----------
    problem : dict
        The RFC 9457 problem to answer with (status 400 or 422).
    """

    def __init__(self, problem: dict):
        super().__init__(problem["detail"])
        self.problem = problem


def nesting_depth(raw: bytes) -> int:
    """How deep arrays and objects nest in the JSON text ``raw``, without parsing it.

    Brackets inside strings do not count. Vectorized, so a 50 MB body takes
    a fraction of a second and no Python object per value: the service runs
    it before ``json.loads``, so that a body nested thousands of levels deep
    is refused instead of exhausting the parser's recursion.

    Parameters
    ----------
    raw : bytes
        JSON text (UTF-8). Invalid JSON gives some number; it fails to parse
        anyway.

    Returns
    -------
    int
        0 for a scalar, 1 for a flat object or array.

    Examples
    --------
    >>> nesting_depth(b'{"a": [1, [2, {"b": "]]]"}]]}')
    4
    >>> nesting_depth(b'"[[[\\\\"[[["'), nesting_depth(b'[' * 5000 + b']' * 5000)
    (0, 5000)
    """
    a = np.frombuffer(raw, dtype=np.uint8)
    quotes = np.flatnonzero(a == 0x22)
    if len(quotes):
        # a quote after an odd run of backslashes is escaped: it neither opens nor closes a string
        cand = quotes[(quotes > 0) & (a[np.maximum(quotes - 1, 0)] == 0x5C)]
        if len(cand):
            bs = np.flatnonzero(a == 0x5C)
            run_start = np.r_[True, np.diff(bs) != 1]
            first = bs[run_start][np.cumsum(run_start) - 1]  # first backslash of the run of each backslash
            run = cand - first[np.searchsorted(bs, cand - 1)]
            quotes = np.setdiff1d(quotes, cand[run % 2 == 1], assume_unique=True)
    br = np.flatnonzero((a == 0x5B) | (a == 0x7B) | (a == 0x5D) | (a == 0x7D))
    br = br[np.searchsorted(quotes, br) % 2 == 0]  # an even number of quotes before: outside strings
    if not len(br):
        return 0
    step = np.where((a[br] == 0x5B) | (a[br] == 0x7B), 1, -1).astype(np.int32)
    return int(np.cumsum(step).max())


def _no_constant(name):
    raise ValueError(f"{name} is not a JSON value; send null for a missing number")


def _invalid(errors: Sequence[Any]) -> dict:
    lines = [
        f"{'.'.join(str(x) for x in e.get('loc', ()) if x != 'body') or 'body'}: {e.get('msg')}" for e in errors[:50]
    ]
    return _problem(422, "Invalid request", "; ".join(lines[:10]), "invalid-request", problems=lines)


def parse_request(kind: str, raw: bytes, *, max_depth: int = DEFAULT_MAX_DEPTH) -> dict:
    """A request body (JSON text) checked against the endpoint's schema, as a job payload.

    The nesting depth is checked first, on the raw bytes; then the JSON is
    parsed (strictly: no ``NaN`` or ``Infinity``) and validated. The
    geodata members are passed on as sent (they have been validated), the
    parameters as validated.

    Parameters
    ----------
    kind : {"partition", "validate", "repartition", "locate"}
        The endpoint, ``/v1/<kind>``.
    raw : bytes
        The request body.
    max_depth : int
        Deepest nesting of arrays and objects accepted.

    Returns
    -------
    dict
        The payload for :func:`run_job`.

    Raises
    ------
    Refused
        An :class:`~microgrid.errors.InputError` carrying the problem to
        answer with: 400 (not JSON, nested too deeply) or 422 (not the
        schema).

    Examples
    --------
    >>> parse_request("locate", b'{"grids": {"type": "FeatureCollection", "features": []}, '
    ...               b'"points": {"type": "FeatureCollection", "features": []}, "crs": 4547}')["crs"]
    4547
    >>> try:
    ...     parse_request("locate", b'{"grids": {"crs": ' + b"[" * 100 + b"]" * 100 + b"}}")
    ... except Exception as exc:
    ...     print(exc.problem["status"], exc.problem["title"])
    400 Body nested too deeply
    """
    depth = nesting_depth(raw)
    too_deep = _problem(
        400,
        "Body nested too deeply",
        f"the request body nests arrays and objects {depth} levels "
        f"deep; at most {max_depth} are accepted (GeoJSON itself needs about 10): flatten the "
        "deeply nested members (properties, crs)",
        "too-deep",
    )
    if depth > max_depth:
        raise Refused(too_deep)
    try:
        data = json.loads(raw, parse_constant=_no_constant)
    except RecursionError:
        raise Refused(too_deep) from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, NaN
        raise Refused(_problem(400, "Malformed JSON", f"the body is not valid JSON: {exc}", "malformed-json")) from None
    try:
        body = _CHECKS[kind].model_validate(data)
    except ValidationError as exc:
        raise Refused(_invalid(exc.errors(include_url=False, include_input=False))) from None
    payload = body.model_dump(mode="json", exclude_unset=True, exclude=_GEODATA)
    payload.update({k: data[k] for k in _GEODATA & body.model_fields_set})
    return payload


# ------------------------------------------------------------------ jobs (run in worker processes)

_PARTITION_ARGS = (
    "min_persons",
    "max_persons",
    "n_grids",
    "seed",
    "id_col",
    "persons_col",
    "default_persons",
    "kind_col",
    "outside",
    "snap_tolerance",
    "on_infeasible",
    "tries",
    "restarts",
    "compactness",
    "code_prefix",
    "refine",
    "input_crs",
    "divide_sites",
    "entrance_col",
    "floor_col",
    "oversize",
    "stack_col",
)


def _need_scalars(layer, what: str, cols) -> None:
    """Refuse arrays and objects in the columns a job uses as ids, counts or kinds (they cannot be compared)."""
    from .errors import ids_preview

    if layer is None:
        return
    problems = []
    for col in dict.fromkeys(c for c in cols if c and c in layer.columns):
        odd = [i for i, v in enumerate(layer[col].tolist()) if isinstance(v, (list, dict))]
        if odd:
            problems.append(
                f"{what}: the {col} property must be a string, a number or null, not an array or "
                f"object (features[{ids_preview(odd)}])"
            )
    if problems:
        raise InputError(problems)


def _job_partition(p: dict) -> dict:
    from .io.geojson import plan_to_geojson, read_feature_collection
    from .partition import partition

    crs = p.get("crs")
    layers = {
        k: read_feature_collection(p.get(k), what=k, crs=crs)
        for k in ("households", "boundary", "barriers", "landmarks")
    }
    kw = {k: p[k] for k in _PARTITION_ARGS if k in p and p[k] is not None}
    _need_scalars(
        layers["households"],
        "households",
        (
            kw.get("id_col", "household_id"),
            kw.get("persons_col", "persons"),
            kw.get("stack_col"),
            kw.get("entrance_col"),
            kw.get("floor_col"),
        ),
    )
    _need_scalars(layers["barriers"], "barriers", (kw.get("kind_col"), "kind", "highway", "name"))
    _need_scalars(layers["landmarks"], "landmarks", ("name", "kind"))
    plan = partition(layers["households"], layers["boundary"], layers["barriers"], layers["landmarks"], **kw)
    return {"summary": plan.summary(), "report": plan.report.to_dict(), **plan_to_geojson(plan, crs=crs)}


def _job_validate(p: dict) -> dict:
    from .io.geojson import read_feature_collection
    from .validate import validate

    crs = p.get("crs")
    layers = {
        k: read_feature_collection(p.get(k), what=k, crs=crs) for k in ("grids", "households", "boundary", "barriers")
    }
    kw = {
        k: p[k]
        for k in (
            "min_persons",
            "max_persons",
            "grid_id_col",
            "household_id_col",
            "persons_col",
            "assignment_col",
            "stack_col",
        )
        if k in p
    }
    _need_scalars(
        layers["grids"], "grids", (kw.get("grid_id_col", "grid_id"), kw.get("stack_col", "stack_id"), "flagged")
    )
    _need_scalars(
        layers["households"],
        "households",
        (kw.get("household_id_col", "household_id"), kw.get("persons_col", "persons"), kw.get("assignment_col")),
    )
    _need_scalars(layers["barriers"], "barriers", ("kind", "highway", "name"))
    report = validate(layers["grids"], layers["households"], layers["boundary"], layers["barriers"], **kw)
    return {"summary": report.summary(), "report": report.to_dict()}


def _bound_of(boundary, name: str, default: int, problems: list[str]) -> int:
    """``min_persons`` or ``max_persons`` from the boundary's properties (a plan's boundary carries them)."""
    if name not in boundary.columns:
        return default
    vals = boundary[name].tolist()
    good = [
        v
        for v in vals
        if isinstance(v, int)
        and not isinstance(v, bool)
        and 0 <= v <= 1_000_000_000
        or isinstance(v, float)
        and v.is_integer()
        and 0 <= v <= 1_000_000_000
    ]
    if len(good) != len(vals) or len({int(v) for v in good}) > 1:
        problems.append(
            f"boundary: the {name} property is {', '.join(repr(v) for v in vals[:5])}; give one whole "
            f"number >= 0 (the same on every boundary feature), leave the property out, or send "
            f"{name} in the request"
        )
        return default
    return int(good[0])


def _check_plan(old, lo: int, hi: int) -> None:
    """Refuse a plan that repartition cannot start from: ids missing, or grids that do not tile the boundary."""
    from .errors import ids_preview
    from .validate import validate

    if old.grids is None or old.households is None:
        raise InputError("plan: give both its grids and its households, as /v1/partition returned them")
    problems = []
    if "grid_id" not in old.grids.columns or old.grids["grid_id"].isna().any():
        problems.append("plan.grids: every grid needs a grid_id property (as /v1/partition returned them)")
    for col in ("household_id", "grid_id"):
        if col not in old.households.columns or old.households[col].isna().any():
            problems.append(f"plan.households: every household needs a {col} property (as /v1/partition returned them)")
    if "flagged" in old.grids.columns:
        odd = [
            i
            for i, v in enumerate(old.grids["flagged"].tolist())
            if not (v is None or isinstance(v, bool) or isinstance(v, float) and np.isnan(v))
        ]
        if odd:
            problems.append(
                f"plan.grids: the flagged property must be true, false or null (features[{ids_preview(odd)}])"
            )
    if problems:
        raise InputError(problems)
    report = validate(
        old.grids, old.households, old.boundary, None, min_persons=lo, max_persons=hi, assignment_col="grid_id"
    )  # stacked grids (stack_id) share one polygon
    tiling = (
        "empty_geometry",
        "invalid_geometry",
        "duplicate_grid_id",
        "coverage_invalid_edges",
        "gap",
        "outside_boundary",
        "overlap",
    )
    bad = report.errors[report.errors["check"].isin(tiling)] if len(report.errors) else report.errors
    if len(bad):
        found = bad["message"].tolist()
        raise InputError(
            f"the plan's grids do not tile the boundary: {'; '.join(found[:10])}"
            f"{f'; ... ({len(found) - 10} more)' if len(found) > 10 else ''}; send the plan's grids "
            "and households as /v1/partition returned them, with the boundary the plan was made for"
        )


def _job_repartition(p: dict) -> dict:
    from .io.geojson import plan_to_geojson, read_feature_collection
    from .plan import Plan, jsonable
    from .repartition import repartition

    crs = p.get("crs")
    plan_in = p["plan"]
    old = Plan(
        grids=read_feature_collection(plan_in.get("grids"), what="plan.grids", crs=crs),
        households=read_feature_collection(plan_in.get("households"), what="plan.households", crs=crs),
        report=None,  # type: ignore[arg-type]  # a plan as sent: repartition validates it itself
        boundary=read_feature_collection(p.get("boundary"), what="boundary", crs=crs),
        barriers=read_feature_collection(p.get("barriers"), what="barriers", crs=crs),
    )
    hh = read_feature_collection(p.get("households"), what="households", crs=crs)
    _need_scalars(old.grids, "plan.grids", ("grid_id", "code", "flagged", "name", "stack_id"))
    _need_scalars(old.households, "plan.households", ("household_id", "grid_id", "persons"))
    _need_scalars(hh, "households", (p.get("id_col", "household_id"), p.get("persons_col", "persons")))
    _need_scalars(old.barriers, "barriers", ("kind", "highway", "name"))
    problems: list[str] = []
    lo = p.get("min_persons")
    hi = p.get("max_persons")
    lo = _bound_of(old.boundary, "min_persons", 200, problems) if lo is None else lo
    hi = _bound_of(old.boundary, "max_persons", 300, problems) if hi is None else hi
    if not problems and lo > hi:
        problems.append(f"min_persons {lo} > max_persons {hi}")
    if problems:
        raise InputError(problems)
    _check_plan(old, lo, hi)
    kw = {k: p[k] for k in ("id_col", "persons_col", "seed", "max_rings") if p.get(k) is not None}
    plan, changes = repartition(old, hh, min_persons=lo, max_persons=hi, **kw)
    return {
        "summary": plan.summary(),
        "changes": {**jsonable(vars(changes)), "summary": changes.summary()},
        "report": plan.report.to_dict(),
        **plan_to_geojson(plan, crs=crs),
    }


def _overlaps(grids, pts, ids) -> dict[int, list]:
    """Points in the interior of more than one grid: position -> the ids of all those grids, in grid order."""
    import shapely

    geoms = grids.geometry.to_numpy()
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    tree = shapely.STRtree(np.where(ok, geoms, None))
    pi, gi = tree.query(pts.geometry.to_numpy(), predicate="within")
    if not len(pi):
        return {}
    o = np.lexsort((gi, pi))
    pi, gi = pi[o], gi[o]
    counts = np.bincount(pi)
    many = np.flatnonzero(counts > 1)
    if not len(many):
        return {}
    out: dict[int, list] = {}
    for p, g in zip(pi.tolist(), gi.tolist()):
        if counts[p] > 1:
            out.setdefault(p, []).append(ids[g])
    return out


def _job_locate(p: dict) -> dict:
    import pandas as pd

    from .errors import ids_preview
    from .io.geojson import read_feature_collection
    from .locate import locate
    from .plan import jsonable

    crs = p.get("crs")
    grids = read_feature_collection(p.get("grids"), what="grids", crs=crs)
    pts = read_feature_collection(p.get("points"), what="points", crs=crs)
    if grids is None or pts is None:
        raise InputError("locate needs grids and points")
    id_col = p.get("grid_id_col", "grid_id")
    _need_scalars(grids, "grids", (id_col, "code", "stack_id"))
    res = locate(grids, pts, grid_id_col=id_col)
    ids = res["grid_id"]
    res = res.astype(object).where(res.notna(), None)
    if id_col in grids and grids[id_col].dtype.kind in "iu":  # missing values made the ids float: undo
        # an object Series: a plain list of ints and None would become floats and NaN (pandas 3)
        res["grid_id"] = pd.Series([None if pd.isna(v) else int(v) for v in ids], index=res.index, dtype=object)
    rows = [{"index": i, **jsonable(r)} for i, r in zip(range(len(res)), res.to_dict("records"))]
    overlaps = _overlaps(grids, pts, jsonable(grids[id_col].tolist()))
    warnings = []
    if overlaps:
        for i, grid_ids in overlaps.items():
            rows[i]["overlaps"] = grid_ids
        pairs = sorted({tuple(g) for g in overlaps.values()}, key=str)
        warnings.append(
            f"{len(overlaps)} point(s) lie inside more than one grid, so the grids overlap "
            f"({'; '.join(', '.join(map(str, g)) for g in pairs[:10])}"
            f"{'; ...' if len(pairs) > 10 else ''}); each such point was given the first of its "
            f"grids in the order sent, and all of them are listed in its 'overlaps' (points "
            f"{ids_preview(sorted(overlaps))}); check the grids with /v1/validate"
        )
    return {"located": int(res["grid_id"].notna().sum()), "results": rows, "warnings": warnings}


def _job_changes(p: dict) -> dict:
    """``/v1/changes``: the plan's households after the change list, re-partitioned as ``/v1/repartition``."""
    from .edits import apply_changes
    from .io.geojson import plan_to_geojson, read_feature_collection
    from .plan import Plan, jsonable

    crs = p.get("crs")
    old = Plan(
        grids=read_feature_collection(p["plan"].get("grids"), what="plan.grids", crs=crs),
        households=read_feature_collection(p["plan"].get("households"), what="plan.households", crs=crs),
        report=None,  # type: ignore[arg-type]  # a plan as sent: repartition validates it
        boundary=read_feature_collection(p.get("boundary"), what="boundary", crs=crs),
        barriers=read_feature_collection(p.get("barriers"), what="barriers", crs=crs),
    )
    kw = {
        k: p[k] for k in ("min_persons", "max_persons", "seed", "max_rings", "locked", "pinned") if p.get(k) is not None
    }
    plan, changes = apply_changes(old, p.get("changes") or [], **kw)
    return {
        "summary": plan.summary(),
        "changes": {**jsonable(vars(changes)), "summary": changes.summary()},
        "report": plan.report.to_dict(),
        **plan_to_geojson(plan, crs=crs),
    }


_JOBS = {
    "partition": _job_partition,
    "validate": _job_validate,
    "repartition": _job_repartition,
    "locate": _job_locate,
    "changes": _job_changes,
}


def _problem(status: int, title: str, detail: str, kind: str, **extra) -> dict:
    body = {"type": f"urn:microgrid:problem:{kind}", "title": title, "status": status, "detail": detail}
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def _internal(detail: str, kind: str = "internal", title: str = "Internal error") -> dict:
    """A 500: our fault, never the caller's; the ``incident`` id is logged with the traceback."""
    incident = str(uuid.uuid4())
    return _problem(
        500,
        title,
        f"{detail} (a fault of the service, not of the request: please report incident {incident})",
        kind,
        incident=incident,
    )


def _problem_of(exc: BaseException) -> dict:
    from .errors import InfeasibleError, InternalError, MicrogridError
    from .plan import jsonable

    if isinstance(exc, Refused):
        return exc.problem
    if isinstance(exc, InputError):
        return _problem(422, "Bad input", str(exc), "bad-input", problems=exc.problems)
    if isinstance(exc, InfeasibleError):
        return _problem(
            422, "Infeasible", str(exc), "infeasible", cause=exc.cause or None, ids=jsonable(exc.ids[:1000])
        )
    if isinstance(exc, InternalError):
        return _internal(str(exc))
    if isinstance(exc, MicrogridError):
        return _problem(422, "Cannot do that", str(exc), "error")
    if isinstance(exc, MemoryError):
        return _problem(
            507,
            "Out of memory",
            "the job needed more memory than a job may have; send a smaller "
            "area, or start the service with a larger --max-job-mb",
            "memory",
        )
    return _internal(f"{type(exc).__name__}: {exc}")


def _finite(v):
    """``v`` with NaN and infinities (e.g. a missing id in a report) as ``None``: JSON has no such numbers."""
    if isinstance(v, float):
        return v if np.isfinite(v) else None
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    return v


def _dumps(result: dict) -> bytes:
    try:
        return json.dumps(result, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    except ValueError:  # a NaN somewhere: only then walk the whole answer
        return json.dumps(_finite(result), ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def _execute(kind: str, payload: dict | None) -> tuple[str, Any, str | None]:
    """``("ok", answer as JSON bytes, None)`` or ``("error", problem, traceback of a 500 or None)``."""
    try:
        if payload is None:
            raise InputError("the request body is empty")
        return "ok", _dumps(_JOBS[kind](payload)), None
    except Exception as exc:  # noqa: BLE001 - every error becomes a problem
        problem = _problem_of(exc)
        return "error", problem, traceback.format_exc() if problem["status"] == 500 else None


def _log_incident(kind: str, problem: dict, tb: str | None) -> None:
    if problem.get("incident"):
        log.error(
            "incident %s: the %s job failed: %s\n%s",
            problem["incident"],
            kind,
            problem["detail"],
            tb or "(no traceback)",
        )


def run_job(kind: str, payload: dict) -> tuple[str, dict]:
    """Run one job in this process: ``("ok", result)`` or ``("error", problem)``.

    The service runs the same in a worker process for every request; this
    is the service without HTTP, e.g. for tests or a queue consumer.

    Parameters
    ----------
    kind : {"partition", "validate", "repartition", "locate"}
        The endpoint, ``/v1/<kind>``.
    payload : dict
        The request body, as JSON-decoded data (see :func:`parse_request`).

    Returns
    -------
    (str, dict)
        ``"ok"`` and the answer body, or ``"error"`` and an RFC 9457 problem
        (``type``, ``title``, ``status``, ``detail``; ``problems``, ``cause``
        and ``ids`` where there are any; ``incident`` for a 500, logged with
        the traceback). Errors are never raised.

    Examples
    --------
    >>> fc = lambda *features: {"type": "FeatureCollection", "features": list(features)}
    >>> grid = {"type": "Feature", "properties": {"grid_id": 7}, "geometry": {"type": "Polygon",
    ...         "coordinates": [[[116.30, 39.92], [116.31, 39.92], [116.31, 39.93], [116.30, 39.93], [116.30, 39.92]]]}}
    >>> point = lambda x, y: {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [x, y]}}
    >>> run_job("locate", {"grids": fc(grid), "points": fc(point(116.305, 39.925), point(116.40, 39.90))})
    ('ok', {'located': 1, 'results': [{'index': 0, 'grid_id': 7}, {'index': 1, 'grid_id': None}], 'warnings': []})
    >>> status, problem = run_job("partition", {"households": fc(), "boundary": fc(grid)})
    >>> status, problem["status"], problem["detail"]
    ('error', 422, 'households layer is empty; give at least one household point')
    """
    status, body, tb = _execute(kind, payload)
    if status == "ok":
        return status, json.loads(body)
    _log_incident(kind, body, tb)
    return status, body


def _work(kind: str, raw: bytes, max_depth: int) -> tuple[str, Any, str | None]:
    """Parse, check and run one request body: what a worker process does."""
    try:
        payload = parse_request(kind, raw, max_depth=max_depth)
    except Refused as exc:
        return "error", exc.problem, None
    except Exception as exc:  # noqa: BLE001 - MemoryError, or a bug in the parsing
        problem = _problem_of(exc)
        return "error", problem, traceback.format_exc() if problem["status"] == 500 else None
    del raw
    return _execute(kind, payload)


def _limit_memory(max_job_mb: float | None) -> None:  # pragma: no cover - runs in the worker process
    """Cap this process's address space at its present size plus ``max_job_mb`` (Linux; elsewhere a no-op)."""
    if not max_job_mb:
        return
    try:
        import resource

        with open("/proc/self/status") as f:
            size = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
        limit = size + int(max_job_mb * 2**20)
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, OSError, ValueError, StopIteration):
        log.debug("no memory limit for this job", exc_info=True)


def _child(conn, kind, max_depth, max_job_mb):  # pragma: no cover - runs in the worker process
    try:
        _limit_memory(max_job_mb)
        result = _work(kind, conn.recv_bytes(), max_depth)
    except BaseException as exc:  # noqa: BLE001 - anything at all must reach the parent as a problem
        problem = _problem_of(exc)
        result = ("error", problem, traceback.format_exc() if problem["status"] == 500 else None)
    try:
        try:
            conn.send(result)
        except MemoryError:
            conn.send(("error", _problem_of(MemoryError()), None))
    finally:
        conn.close()


_CTX = None


def _context():
    global _CTX
    if _CTX is None:
        method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        _CTX = multiprocessing.get_context(method)
        # one job, one process: parallelism comes from several jobs, so the math libraries' thread pools
        # (each thread reserving address space that counts against --max-job-mb) are not wanted
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(var, "1")
        if method == "forkserver":
            _CTX.set_forkserver_preload(
                [
                    "microgrid.service",
                    "microgrid.partition",
                    "microgrid.validate",
                    "microgrid.repartition",
                    "microgrid.locate",
                    "microgrid.io.geojson",
                ]
            )
    return _CTX


def _run_isolated(
    kind: str,
    raw: bytes,
    timeout: float,
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_job_mb: float | None = DEFAULT_MAX_JOB_MB,
) -> tuple[str, Any, str | None]:
    """Run a request in a fresh worker process; kill it at ``timeout`` seconds."""
    ctx = _context()
    conn, child_conn = ctx.Pipe(duplex=True)
    proc = ctx.Process(target=_child, args=(child_conn, kind, max_depth, max_job_mb), daemon=True)
    deadline = time.monotonic() + timeout
    proc.start()
    child_conn.close()
    try:
        try:
            conn.send_bytes(raw)  # releases the GIL while it writes; the worker reads at once
        except OSError:
            pass  # the worker is gone: said below
        if conn.poll(max(deadline - time.monotonic(), 0)):
            try:
                return conn.recv()
            except (EOFError, OSError):
                pass
        else:
            proc.kill()
            return (
                "error",
                _problem(
                    504,
                    "Time limit",
                    f"the {kind} job ran past the time limit of {timeout:g} s "
                    "and was stopped; send a smaller area, or start the service with a longer "
                    "--timeout",
                    "timeout",
                ),
                None,
            )
        proc.join(5)
        limit = f"; a job may use {max_job_mb:g} MB (--max-job-mb)" if max_job_mb else ""
        return (
            "error",
            _internal(
                f"the {kind} worker process ended with exit code {proc.exitcode} before "
                f"answering (a crash, or out of memory{limit})",
                "worker-died",
                "Worker died",
            ),
            None,
        )
    finally:
        conn.close()
        proc.join(1)
        if proc.is_alive():
            proc.kill()
            proc.join(1)


# ------------------------------------------------------------------ the app


class BodyLimit:
    """ASGI middleware: read each request body whole, under a size limit and a time limit, before the app runs.

    A body over ``limit`` bytes gets 413 (by ``Content-Length``, or as soon
    as it passes the limit while streaming); a body whose next chunk takes
    longer than ``timeout`` seconds, or that takes longer than ``4 *
    timeout`` in all, gets 408. Both close the connection, so a slow or
    stalled client holds no connection longer than that.
    """

    def __init__(self, app, limit: int, timeout: float = DEFAULT_BODY_TIMEOUT):
        self.app = app
        self.limit = limit
        self.timeout = timeout

    @staticmethod
    async def _answer(send, problem: dict):
        body = json.dumps(problem).encode()
        await send(
            {
                "type": "http.response.start",
                "status": problem["status"],
                "headers": [
                    (b"content-type", PROBLEM.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _too_large(self, note: str) -> dict:
        return _problem(
            413,
            "Body too large",
            f"the request body {note} exceeds the limit of {self.limit} bytes; "
            "send a smaller area or start the service with a larger --max-body-mb",
            "body-too-large",
        )

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for k, v in scope.get("headers", []):
            if k == b"content-length":
                try:
                    n = int(v)
                except ValueError:
                    n = 0
                if n > self.limit:
                    return await self._answer(send, self._too_large(f"({n} bytes)"))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 4 * self.timeout
        chunks, seen = [], 0
        while True:
            wait = min(self.timeout, deadline - loop.time())
            try:
                msg = await asyncio.wait_for(receive(), max(wait, 0))
            except asyncio.TimeoutError:
                return await self._answer(
                    send,
                    _problem(
                        408,
                        "Body too slow",
                        f"the request body did not arrive in time ({seen} bytes came; each part "
                        f"must come within {self.timeout:g} s and the whole body within {4 * self.timeout:g} s); send "
                        "it again, or start the service with a longer --body-timeout",
                        "body-timeout",
                    ),
                )
            if msg["type"] == "http.disconnect":
                return None  # the client has gone: nobody to answer
            chunk = msg.get("body", b"")
            seen += len(chunk)
            if seen > self.limit:
                return await self._answer(send, self._too_large("(streamed)"))
            chunks.append(chunk)
            if not msg.get("more_body", False):
                break
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        del chunks
        given = False

        async def replay():
            nonlocal given, body
            if not given:
                given = True
                msg = {"type": "http.request", "body": body, "more_body": False}
                body = b""
                return msg
            return await receive()  # after the body: wait for the client to go

        return await self.app(scope, replay, send)


def _problem_response(body: dict, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=body["status"], media_type=PROBLEM, headers=headers)


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "content": {PROBLEM: {}}, "description": desc}
    for code, desc in (
        (400, "Malformed JSON, or nested too deeply"),
        (408, "Body too slow"),
        (413, "Body too large"),
        (422, "Bad input or infeasible"),
        (500, "A fault of the service (with an incident id)"),
        (503, "Too many requests waiting"),
        (504, "Time limit"),
        (507, "Out of memory"),
    )
}


#: The job routes, ``POST /v1/KIND`` in this order: (summary, description) by kind; the body is ``_MODELS[kind]``.
_JOB_ROUTES: dict[str, tuple[str, str]] = {
    "partition": (
        "Divide a community into grids",
        "Partition households within a boundary along barriers; returns grids, households and the report.",
    ),
    "validate": (
        "Validate a grid map",
        "Check coverage, contiguity, bounds and household assignment of any grid layer.",
    ),
    "repartition": (
        "Update a plan with the least churn",
        "Re-draw only the grids that left their bounds, and their neighbours.",
    ),
    "changes": (
        "Apply a change list to a plan with the least churn",
        "Households added, removed, moved or resized; only the grids that broke are re-drawn.",
    ),
    "locate": (
        "Route points to grids",
        "The grid id (and code) of every point; ``warnings`` name points inside more than one grid.",
    ),
}


def _body_doc(model: type[BaseModel]) -> dict:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}},
        }
    }


def _with_request_schemas(app: FastAPI) -> None:
    """The request bodies are read by the service itself, not FastAPI: describe them in the OpenAPI spec."""
    from fastapi.openapi.utils import get_openapi
    from pydantic.json_schema import models_json_schema

    def openapi():
        if app.openapi_schema is None:
            spec = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            _, defs = models_json_schema(
                [(m, "validation") for m in _MODELS.values()], ref_template="#/components/schemas/{model}"
            )
            spec.setdefault("components", {}).setdefault("schemas", {}).update(defs.get("$defs", {}))
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to customise the schema


def _add_error_handlers(app: FastAPI) -> None:
    """Every error as problem+json: our faults with a logged incident id, bad requests 422, HTTP errors as they are."""

    @app.exception_handler(Exception)
    async def _fault(request: Request, exc: Exception):
        problem = _internal(f"{type(exc).__name__}: {exc}")
        log.error(
            "incident %s: %s %s failed",
            problem["incident"],
            request.method,
            request.url.path,
            exc_info=(type(exc), exc, exc.__traceback__),
        )
        return _problem_response(problem)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError):
        return _problem_response(_invalid(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        return _problem_response(_problem(exc.status_code, str(exc.detail), str(exc.detail), "http"))


def create_app(
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY,
    timeout: float = DEFAULT_TIMEOUT,
    max_jobs: int | None = None,
    max_queue: int = 64,
    isolate: bool = True,
    body_timeout: float = DEFAULT_BODY_TIMEOUT,
    max_job_mb: float | None = DEFAULT_MAX_JOB_MB,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> FastAPI:
    """The FastAPI application.

    Parameters
    ----------
    max_body_bytes : int
        Larger request bodies get 413.
    timeout : float
        Seconds a job may run before it is stopped (504).
    max_jobs : int, optional
        Jobs run at once (default: the number of CPUs).
    max_queue : int
        Requests that may wait for a job slot; more get 503.
    isolate : bool
        Run each job in its own worker process (default; the only way a
        job past its time limit can be stopped, or its memory bounded).
        ``False`` runs jobs in threads of this process, e.g. under a
        debugger.
    body_timeout : float
        Seconds the next chunk of a request body may take (the whole body:
        four times that); then 408.
    max_job_mb : float, optional
        Memory (address space) a job may add to its worker process; a job
        needing more gets 507. ``None``: no limit. Linux only.
    max_depth : int
        Deepest nesting of arrays and objects in a body; deeper gets 400
        before the body is parsed.

    Returns
    -------
    FastAPI
        An ASGI application; serve it with uvicorn (as :func:`serve` does)
        or any other ASGI server.

    Examples
    --------
    >>> app = create_app(max_jobs=2, timeout=120, max_body_bytes=20 * 2**20)
    >>> sorted(r.path for r in app.routes if r.path.startswith(("/v1/", "/healthz")))
    ['/healthz', '/v1/changes', '/v1/locate', '/v1/partition', '/v1/repartition', '/v1/validate']
    >>> import uvicorn
    >>> uvicorn.run(app, host="127.0.0.1", port=8000)  # doctest: +SKIP
    """
    max_jobs = max_jobs or os.cpu_count() or 1
    app = FastAPI(
        title="microgrid",
        version=__version__,
        description="Divide a community into contiguous, population-balanced micro-grids along its "
        "roads, and prove no land and no household is left out.",
    )
    app.add_middleware(BodyLimit, limit=max_body_bytes, timeout=body_timeout)
    _with_request_schemas(app)
    state: dict[str, Any] = {"slots": asyncio.Semaphore(max_jobs), "waiting": 0, "running": 0}
    threads = ThreadPoolExecutor(max_workers=max_jobs + 1, thread_name_prefix="microgrid-job")

    _add_error_handlers(app)

    async def _run(kind: str, request: Request):
        raw = await request.body()
        loop = asyncio.get_running_loop()
        payload = None
        if len(raw) <= _INLINE_PARSE or not isolate:  # a small body: bad ones are answered without a worker
            try:
                payload = (
                    parse_request(kind, raw, max_depth=max_depth)
                    if len(raw) <= _INLINE_PARSE
                    else await loop.run_in_executor(threads, lambda: parse_request(kind, raw, max_depth=max_depth))
                )
            except Refused as exc:
                return _problem_response(exc.problem)
        if state["waiting"] >= max_queue:
            return _problem_response(
                _problem(503, "Busy", f"{max_queue} requests are already waiting; retry later", "busy"),
                headers={"Retry-After": "5"},
            )
        state["waiting"] += 1
        try:
            await state["slots"].acquire()
        finally:
            state["waiting"] -= 1
        state["running"] += 1
        try:
            if isolate:
                status, result, tb = await loop.run_in_executor(
                    threads, lambda: _run_isolated(kind, raw, timeout, max_depth=max_depth, max_job_mb=max_job_mb)
                )
            else:
                status, result, tb = await asyncio.wait_for(
                    loop.run_in_executor(threads, _execute, kind, payload), timeout
                )
        except asyncio.TimeoutError:
            status, result, tb = (
                "error",
                _problem(504, "Time limit", f"the {kind} job ran past {timeout:g} s", "timeout"),
                None,
            )
        finally:
            state["running"] -= 1
            state["slots"].release()
        if status == "ok":
            return Response(result, media_type="application/json")
        _log_incident(kind, result, tb)
        return _problem_response(result)

    @app.get("/healthz", summary="Liveness and load")
    async def healthz():
        return {
            "status": "ok",
            "version": __version__,
            "running": state["running"],
            "waiting": state["waiting"],
            "max_jobs": max_jobs,
        }

    def job_route(kind: str, description: str):
        async def route(request: Request):
            return await _run(kind, request)

        route.__name__ = route.__qualname__ = f"v1_{kind}"  # FastAPI's route name and operationId
        route.__doc__ = description
        return route

    for kind, (summary, description) in _JOB_ROUTES.items():
        app.post(f"/v1/{kind}", responses=_ERRORS, summary=summary, openapi_extra=_body_doc(_MODELS[kind]))(
            job_route(kind, description)
        )

    return app


def serve(host: str = "127.0.0.1", port: int = 8000, **kw: Any) -> None:
    """Run the service with uvicorn until stopped (``microgrid serve`` calls this).

    Parameters
    ----------
    host : str
        Address to listen on; ``"0.0.0.0"`` for every interface.
    port : int
        Port to listen on.
    **kw
        Options of :func:`create_app`: ``max_jobs``, ``max_queue``,
        ``timeout``, ``max_body_bytes``, ``isolate``, ``body_timeout``,
        ``max_job_mb``, ``max_depth``.

    Examples
    --------
    It blocks until stopped (Ctrl-C or a signal), so here it runs in a
    process of its own, on a free port, and is asked for ``/healthz``:

    >>> import json, socket, subprocess, sys, time, urllib.request
    >>> with socket.socket() as s:
    ...     s.bind(("127.0.0.1", 0))
    ...     port = s.getsockname()[1]
    >>> code = f"from microgrid.service import serve; serve('127.0.0.1', {port}, max_jobs=1)"
    >>> proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    >>> def healthz():
    ...     for _ in range(300):  # up to 30 s for the imports
    ...         try:
    ...             with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
    ...                 return json.load(r)
    ...         except OSError:
    ...             time.sleep(0.1)
    >>> healthz()["status"]
    'ok'
    >>> proc.terminate()
    >>> _ = proc.wait(30)
    """
    import uvicorn

    uvicorn.run(create_app(**kw), host=host, port=port, log_level="info")


# ------------------------------------------------------------------ /v1/changes

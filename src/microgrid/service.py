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
message, and the ``ids`` involved where there are any.

The CPU work of each request runs in its own worker process (started from a
preloaded fork server, so it costs milliseconds), never on the event loop: at
most ``max_jobs`` at once, further requests wait in a queue of ``max_queue``
and beyond that get 503. A job that runs past ``timeout`` seconds is killed
and answered with 504. Bodies larger than ``max_body_bytes`` get 413.

Examples
--------
>>> from microgrid.service import create_app
>>> app = create_app(max_jobs=1, timeout=30)
>>> sorted(r.path for r in app.routes if r.path.startswith("/v1"))
['/v1/changes', '/v1/locate', '/v1/partition', '/v1/repartition', '/v1/validate']
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import traceback
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import __version__

__all__ = ["create_app", "serve", "run_job"]

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"
DEFAULT_MAX_BODY = 50 * 1024 * 1024
DEFAULT_TIMEOUT = 300.0

# ------------------------------------------------------------------ request models

_Int = Annotated[int, Field(ge=0, le=1_000_000_000)]


class Geometry(BaseModel):
    """A GeoJSON geometry object (RFC 7946 §3.1)."""

    model_config = ConfigDict(extra="allow")
    type: Literal["Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon",
                  "GeometryCollection"]
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


Crs = Annotated[str | int | dict[str, Any] | None, Field(
    description="CRS of all coordinates in the request and the answer; default WGS84 (RFC 7946)",
    examples=["EPSG:4547"])]


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
    outside: Literal["error", "drop", "snap"] = "error"
    snap_tolerance: Annotated[float, Field(ge=0, le=1000, allow_inf_nan=False)] = 2.0
    on_infeasible: Literal["raise", "flag"] = "raise"
    tries: Annotated[int, Field(ge=1, le=50)] = 6
    restarts: Annotated[int, Field(ge=1, le=50)] = 3
    compactness: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)] = 0.5
    code_prefix: str = "000000000000"
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


# ------------------------------------------------------------------ jobs (run in worker processes)

_PARTITION_ARGS = ("min_persons", "max_persons", "n_grids", "seed", "id_col", "persons_col", "default_persons",
                   "kind_col", "outside", "snap_tolerance", "on_infeasible", "tries", "restarts", "compactness", "code_prefix",
                   "oversize", "stack_col")


def _job_partition(p: dict) -> dict:
    from .geojson import plan_to_geojson, read_feature_collection
    from .partition import partition

    crs = p.get("crs")
    layers = {k: read_feature_collection(p.get(k), what=k, crs=crs)
              for k in ("households", "boundary", "barriers", "landmarks")}
    kw = {k: p[k] for k in _PARTITION_ARGS if k in p and p[k] is not None}
    plan = partition(layers["households"], layers["boundary"], layers["barriers"], layers["landmarks"], **kw)
    return {"summary": plan.summary(), "report": plan.report.to_dict(), **plan_to_geojson(plan, crs=crs)}


def _job_validate(p: dict) -> dict:
    from .geojson import read_feature_collection
    from .validate import validate

    crs = p.get("crs")
    layers = {k: read_feature_collection(p.get(k), what=k, crs=crs)
              for k in ("grids", "households", "boundary", "barriers")}
    kw = {k: p[k] for k in ("min_persons", "max_persons", "grid_id_col", "household_id_col", "persons_col",
                            "assignment_col", "stack_col") if k in p}
    report = validate(layers["grids"], layers["households"], layers["boundary"], layers["barriers"], **kw)
    return {"summary": report.summary(), "report": report.to_dict()}


def _job_repartition(p: dict) -> dict:
    from .geojson import plan_to_geojson, read_feature_collection
    from .plan import Plan
    from .repartition import repartition

    crs = p.get("crs")
    plan_in = p["plan"]
    old = Plan(grids=read_feature_collection(plan_in.get("grids"), what="plan.grids", crs=crs),
               households=read_feature_collection(plan_in.get("households"), what="plan.households", crs=crs),
               report=None,
               boundary=read_feature_collection(p.get("boundary"), what="boundary", crs=crs),
               barriers=read_feature_collection(p.get("barriers"), what="barriers", crs=crs))
    hh = read_feature_collection(p.get("households"), what="households", crs=crs)
    kw = {k: p[k] for k in ("min_persons", "max_persons", "id_col", "persons_col", "seed", "max_rings")
          if p.get(k) is not None}
    plan, changes = repartition(old, hh, **kw)
    from .plan import _jsonable

    return {"summary": plan.summary(), "changes": {**_jsonable(vars(changes)), "summary": changes.summary()},
            "report": plan.report.to_dict(), **plan_to_geojson(plan, crs=crs)}


def _job_locate(p: dict) -> dict:
    import pandas as pd

    from .geojson import read_feature_collection
    from .locate import locate
    from .plan import _jsonable

    crs = p.get("crs")
    grids = read_feature_collection(p.get("grids"), what="grids", crs=crs)
    pts = read_feature_collection(p.get("points"), what="points", crs=crs)
    id_col = p.get("grid_id_col", "grid_id")
    res = locate(grids, pts, grid_id_col=id_col)
    ids = res["grid_id"]
    res = res.astype(object).where(res.notna(), None)
    if id_col in grids and grids[id_col].dtype.kind in "iu":  # missing values made the ids float: undo
        # an object Series: a plain list of ints and None would become floats and NaN (pandas 3)
        res["grid_id"] = pd.Series([None if pd.isna(v) else int(v) for v in ids], index=res.index, dtype=object)
    rows = [{"index": i, **_jsonable(r)} for i, r in zip(range(len(res)), res.to_dict("records"))]
    return {"located": int(res["grid_id"].notna().sum()), "results": rows}


_JOBS = {"partition": _job_partition, "validate": _job_validate, "repartition": _job_repartition,
         "locate": _job_locate}


def _problem(status: int, title: str, detail: str, kind: str, **extra) -> dict:
    body = {"type": f"urn:microgrid:problem:{kind}", "title": title, "status": status, "detail": detail}
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def _problem_of(exc: BaseException) -> dict:
    from .errors import InfeasibleError, InputError, InternalError, MicrogridError
    from .plan import _jsonable

    if isinstance(exc, InputError):
        return _problem(422, "Bad input", str(exc), "bad-input", problems=exc.problems)
    if isinstance(exc, InfeasibleError):
        return _problem(422, "Infeasible", str(exc), "infeasible", cause=exc.cause or None,
                        ids=_jsonable(exc.ids[:1000]))
    if isinstance(exc, InternalError):
        return _problem(500, "Internal error", str(exc), "internal")
    if isinstance(exc, MicrogridError):
        return _problem(422, "Cannot do that", str(exc), "error")
    if isinstance(exc, MemoryError):
        return _problem(507, "Out of memory", "the job ran out of memory; send a smaller area", "memory")
    return _problem(500, "Internal error", f"{type(exc).__name__}: {exc}", "internal")


def run_job(kind: str, payload: dict) -> tuple[str, dict]:
    """Run one job in this process: ``("ok", result)`` or ``("error", problem)``.

    The service runs this in a worker process for every request; it is the
    service without HTTP, e.g. for tests or a queue consumer.

    Parameters
    ----------
    kind : {"partition", "validate", "repartition", "locate"}
        The endpoint, ``/v1/<kind>``.
    payload : dict
        The request body, as JSON-decoded data.

    Returns
    -------
    (str, dict)
        ``"ok"`` and the answer body, or ``"error"`` and an RFC 9457 problem
        (``type``, ``title``, ``status``, ``detail``; ``problems``, ``cause``
        and ``ids`` where there are any). Errors are never raised.

    Examples
    --------
    >>> fc = lambda *features: {"type": "FeatureCollection", "features": list(features)}
    >>> grid = {"type": "Feature", "properties": {"grid_id": 7}, "geometry": {"type": "Polygon",
    ...         "coordinates": [[[116.30, 39.92], [116.31, 39.92], [116.31, 39.93], [116.30, 39.93], [116.30, 39.92]]]}}
    >>> point = lambda x, y: {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [x, y]}}
    >>> run_job("locate", {"grids": fc(grid), "points": fc(point(116.305, 39.925), point(116.40, 39.90))})
    ('ok', {'located': 1, 'results': [{'index': 0, 'grid_id': 7}, {'index': 1, 'grid_id': None}]})
    >>> status, problem = run_job("partition", {"households": fc(), "boundary": fc(grid)})
    >>> status, problem["status"], problem["detail"]
    ('error', 422, 'households layer is empty; give at least one household point')
    """
    try:
        return "ok", _JOBS[kind](payload)
    except Exception as exc:
        from .errors import InternalError, MicrogridError

        if not isinstance(exc, MicrogridError) or isinstance(exc, InternalError):
            log.error("job %s failed:\n%s", kind, traceback.format_exc())
        return "error", _problem_of(exc)


def _child(conn, kind, payload):  # pragma: no cover - runs in the worker process
    try:
        result = run_job(kind, payload)
    except BaseException as exc:  # noqa: BLE001 - anything at all must reach the parent as a problem
        result = ("error", _problem_of(exc))
    try:
        conn.send(result)
    finally:
        conn.close()


_CTX = None


def _context():
    global _CTX
    if _CTX is None:
        method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        _CTX = multiprocessing.get_context(method)
        if method == "forkserver":
            _CTX.set_forkserver_preload(["microgrid.service", "microgrid.partition", "microgrid.validate",
                                         "microgrid.repartition", "microgrid.locate", "microgrid.geojson"])
    return _CTX


def _run_isolated(kind: str, payload: dict, timeout: float) -> tuple[str, dict]:
    """Run a job in a fresh worker process; kill it at ``timeout`` seconds."""
    ctx = _context()
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(send, kind, payload), daemon=True)
    proc.start()
    send.close()
    try:
        if recv.poll(timeout):
            try:
                return recv.recv()
            except EOFError:
                pass
        else:
            proc.kill()
            return "error", _problem(504, "Time limit", f"the {kind} job ran past the time limit of {timeout:g} s "
                                     "and was stopped; send a smaller area, or start the service with a longer "
                                     "--timeout", "timeout")
        proc.join(5)
        return "error", _problem(500, "Worker died", f"the {kind} worker process ended with exit code "
                                 f"{proc.exitcode} before answering (out of memory?)", "worker-died")
    finally:
        recv.close()
        proc.join(1)
        if proc.is_alive():
            proc.kill()
            proc.join(1)


# ------------------------------------------------------------------ the app


class _TooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: answer 413 problem+json to bodies over ``limit`` bytes."""

    def __init__(self, app, limit: int):
        self.app = app
        self.limit = limit

    async def _reject(self, send, size_note: str):
        import json

        body = json.dumps(_problem(413, "Body too large", f"the request body {size_note} exceeds the limit of "
                                   f"{self.limit} bytes; send a smaller area or start the service with a larger "
                                   "--max-body-mb", "body-too-large")).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", PROBLEM.encode()), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

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
                    return await self._reject(send, f"({n} bytes)")
        seen = 0
        started = rejected = False

        async def limited_receive():
            nonlocal seen, rejected
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.limit and not rejected:
                    # answer now: the framework turns errors raised while reading into 400s of its own
                    rejected = True
                    if not started:
                        await self._reject(send, "(streamed)")
                    raise _TooLarge
            return msg

        async def tracking_send(msg):
            nonlocal started
            if rejected:
                return  # the 413 has been sent; drop whatever the app says after it
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            pass


def _problem_response(body: dict, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=body["status"], media_type=PROBLEM, headers=headers)


_ERRORS = {code: {"model": Problem, "content": {PROBLEM: {}}, "description": desc} for code, desc in (
    (400, "Malformed JSON"), (413, "Body too large"), (422, "Bad input or infeasible"),
    (503, "Too many requests waiting"), (504, "Time limit"))}


def create_app(*, max_body_bytes: int = DEFAULT_MAX_BODY, timeout: float = DEFAULT_TIMEOUT,
               max_jobs: int | None = None, max_queue: int = 64, isolate: bool = True) -> FastAPI:
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
        job past its time limit can be stopped). ``False`` runs jobs in
        threads of this process, e.g. under a debugger.

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
    app = FastAPI(title="microgrid", version=__version__,
                  description="Divide a community into contiguous, population-balanced micro-grids along its "
                              "roads, and prove no land and no household is left out.")
    app.add_middleware(BodyLimit, limit=max_body_bytes)
    state = {"slots": asyncio.Semaphore(max_jobs), "waiting": 0, "running": 0}

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            e = next(e for e in errors if e.get("type") == "json_invalid")
            return _problem_response(_problem(400, "Malformed JSON", f"the body is not valid JSON: "
                                              f"{e.get('ctx', {}).get('error', e.get('msg'))}", "malformed-json"))
        lines = [f"{'.'.join(str(x) for x in e.get('loc', ()) if x != 'body') or 'body'}: {e.get('msg')}"
                 for e in errors[:50]]
        return _problem_response(_problem(422, "Invalid request", "; ".join(lines[:10]), "invalid-request",
                                          problems=lines))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        return _problem_response(_problem(exc.status_code, str(exc.detail), str(exc.detail), "http"))

    async def _run(kind: str, body: BaseModel):
        if state["waiting"] >= max_queue:
            return _problem_response(_problem(503, "Busy", f"{max_queue} requests are already waiting; "
                                              "retry later", "busy"), headers={"Retry-After": "5"})
        payload = body.model_dump(mode="json", exclude_unset=True)
        state["waiting"] += 1
        try:
            await state["slots"].acquire()
        finally:
            state["waiting"] -= 1
        state["running"] += 1
        try:
            if isolate:
                status, result = await asyncio.to_thread(_run_isolated, kind, payload, timeout)
            else:
                status, result = await asyncio.wait_for(asyncio.to_thread(run_job, kind, payload), timeout)
        except asyncio.TimeoutError:
            status, result = "error", _problem(504, "Time limit", f"the {kind} job ran past {timeout:g} s", "timeout")
        finally:
            state["running"] -= 1
            state["slots"].release()
        if status == "ok":
            return JSONResponse(result)
        return _problem_response(result)

    @app.get("/healthz", summary="Liveness and load")
    async def healthz():
        return {"status": "ok", "version": __version__, "running": state["running"], "waiting": state["waiting"],
                "max_jobs": max_jobs}

    @app.post("/v1/partition", responses=_ERRORS, summary="Divide a community into grids")
    async def v1_partition(body: PartitionRequest):
        """Partition households within a boundary along barriers; returns grids, households and the report."""
        return await _run("partition", body)

    @app.post("/v1/validate", responses=_ERRORS, summary="Validate a grid map")
    async def v1_validate(body: ValidateRequest):
        """Check coverage, contiguity, bounds and household assignment of any grid layer."""
        return await _run("validate", body)

    @app.post("/v1/repartition", responses=_ERRORS, summary="Update a plan with the least churn")
    async def v1_repartition(body: RepartitionRequest):
        """Re-draw only the grids that left their bounds, and their neighbours."""
        return await _run("repartition", body)

    @app.post("/v1/changes", responses=_ERRORS, summary="Apply a change list to a plan with the least churn")
    async def v1_changes(body: ChangesRequest):
        """Households added, removed, moved or resized; only the grids that broke are re-drawn."""
        return await _run("changes", body)

    @app.post("/v1/locate", responses=_ERRORS, summary="Route points to grids")
    async def v1_locate(body: LocateRequest):
        """The grid id (and code) of every point."""
        return await _run("locate", body)

    return app


def serve(host: str = "127.0.0.1", port: int = 8000, **kw) -> None:
    """Run the service with uvicorn until stopped (``microgrid serve`` calls this).

    Parameters
    ----------
    host : str
        Address to listen on; ``"0.0.0.0"`` for every interface.
    port : int
        Port to listen on.
    **kw
        Options of :func:`create_app`: ``max_jobs``, ``max_queue``,
        ``timeout``, ``max_body_bytes``, ``isolate``.

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


class ChangesRequest(BaseModel):
    """Body of ``POST /v1/changes``: a plan and a change list, as :func:`microgrid.apply_changes` takes them."""

    model_config = ConfigDict(extra="forbid")
    plan: PlanLayers
    changes: list[dict] = Field(description='rows {"op": "add"|"remove"|"move"|"persons", "household_id", '
                                            '"x", "y", "persons"}; x/y in the request crs', max_length=100_000)
    boundary: FeatureCollection
    barriers: FeatureCollection | None = None
    crs: Crs = None
    min_persons: _Int | None = None
    max_persons: _Int | None = None
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)] = 0
    max_rings: Annotated[int, Field(ge=0, le=20)] = 4
    locked: list[int | str] | None = None
    pinned: dict[str, int | str] | None = None


def _job_changes(p: dict) -> dict:
    """``/v1/changes``: the plan's households after the change list, re-partitioned as ``/v1/repartition``."""
    from .edits import apply_changes
    from .geojson import plan_to_geojson, read_feature_collection
    from .plan import Plan, _jsonable

    crs = p.get("crs")
    old = Plan(grids=read_feature_collection(p["plan"].get("grids"), what="plan.grids", crs=crs),
               households=read_feature_collection(p["plan"].get("households"), what="plan.households", crs=crs),
               report=None, boundary=read_feature_collection(p.get("boundary"), what="boundary", crs=crs),
               barriers=read_feature_collection(p.get("barriers"), what="barriers", crs=crs))
    kw = {k: p[k] for k in ("min_persons", "max_persons", "seed", "max_rings", "locked", "pinned")
          if p.get(k) is not None}
    plan, changes = apply_changes(old, p.get("changes") or [], **kw)
    return {"summary": plan.summary(), "changes": {**_jsonable(vars(changes)), "summary": changes.summary()},
            "report": plan.report.to_dict(), **plan_to_geojson(plan, crs=crs)}


_JOBS["changes"] = _job_changes

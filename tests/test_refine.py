"""The multilevel, compactness-aware refinement of the partition engine.

The coarse levels must keep exact areas, perimeters and shared lengths (the
Polsby-Popper gains are computed from them), every refinement step must keep
bounds and contiguity and never raise its objective, and the compactness
weight must do what it says on real units.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components

import microgrid
from conftest import REPO
from microgrid import InputError
from microgrid.graph import build_graph, whole_groups
from microgrid.inputs import prepare_inputs
from microgrid.partition.refinement import Level, Shape
from microgrid.partition.refinement import contract as _contract
from microgrid.partition.refinement import refine as _refine
from microgrid.partition.refinement import vcycle as _vcycle
from microgrid.partition.regions import partition_graph
from microgrid.units import units_from_inputs


@pytest.fixture(scope="module")
def village():
    hh, bnd, roads, marks = microgrid.samples.make_village(700, seed=3)
    units = units_from_inputs(prepare_inputs(hh, bnd, roads, marks))
    return units, build_graph(units)


def _matrices(units, graph):
    n = units.n
    adj = graph.csr()
    lens = sp.coo_matrix(
        (np.r_[graph.length, graph.length], (np.r_[graph.u, graph.v], np.r_[graph.v, graph.u])), shape=(n, n)
    ).tocsr()
    assert np.array_equal(lens.indices, adj.indices)
    shape = Shape(shapely.area(units.geometry), shapely.length(units.geometry), lens.data, 50.0)
    return adj, shape


def _objective(units, graph, labels, lam):
    """Cut cost less lam times the sum of Polsby-Popper scores, from the dissolved geometry."""
    cut = labels[graph.u] != labels[graph.v]
    geoms = [shapely.coverage_union_all(units.geometry[labels == r]) for r in np.unique(labels)]
    pp = 4 * np.pi * shapely.area(geoms) / shapely.length(geoms) ** 2
    return graph.cost[cut].sum() - lam * pp.sum()


def _connected(adj, labels):
    for r in np.unique(labels):
        idx = np.flatnonzero(labels == r)
        if connected_components(adj[idx][:, idx], directed=False)[0] != 1:
            return False
    return True


def test_coarse_levels_keep_exact_areas_perimeters_and_lengths(village):
    units, graph = village
    adj, shape = _matrices(units, graph)
    labels = partition_graph(units.persons, graph.u, graph.v, graph.cost, lo=200, hi=300, seed=0, refine=False).labels
    c = _contract(labels, Level(units.persons, adj, shape), np.random.default_rng(0))
    assert c is not None
    cmap, (cw, cadj, (carea, cperim, clens, _lam)) = c
    assert len(cw) < units.n
    # a coarse node never mixes regions, and holds the persons of its units
    for c_ in range(len(cw)):
        assert len(np.unique(labels[cmap == c_])) == 1
    assert cw.sum() == units.persons.sum()
    union = np.array([shapely.coverage_union_all(units.geometry[cmap == c_]) for c_ in range(len(cw))], dtype=object)
    np.testing.assert_allclose(carea, shapely.area(union), rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(cperim, shapely.length(union), rtol=1e-6, atol=1e-3)
    # shared lengths of coarse neighbours
    coo = sp.csr_matrix((clens, cadj.indices, cadj.indptr), shape=cadj.shape).tocoo()
    for a, b, ln in list(zip(coo.row, coo.col, coo.data))[:200]:
        shared = shapely.intersection(union[a].boundary, union[b].boundary)
        assert abs(shapely.length(shared) - ln) < 1e-3


@pytest.mark.parametrize("lam", [0.0, 50.0, 2000.0])
def test_refinement_keeps_bounds_and_contiguity_and_never_raises_the_objective(village, lam):
    units, graph = village
    adj, shape = _matrices(units, graph)
    shape = shape._replace(weight=lam)
    start = partition_graph(units.persons, graph.u, graph.v, graph.cost, lo=200, hi=300, seed=1, refine=False).labels
    frozen = np.zeros(start.max() + 1, bool)
    level = Level(units.persons, adj, shape)
    for f in (_refine, _vcycle):
        kw = {} if f is _refine else {"rng": np.random.default_rng(0)}
        out = f(start.copy(), level, 200, 300, frozen, **kw)
        w = np.bincount(out, weights=units.persons)
        assert ((w >= 200) & (w <= 300)).all()
        assert _connected(adj, out)
        assert _objective(units, graph, out, lam) <= _objective(units, graph, start, lam) + 1e-6
        assert not np.array_equal(out, start)  # the start is a bisection; some move pays


def test_compactness_gives_rounder_grids_on_the_bundled_sample():
    f = REPO / "data" / "samples" / "village.gpkg"
    layers = [f"{f}#{name}" for name in ("households", "boundary", "barriers", "landmarks")]
    plans = {c: microgrid.partition(*layers, compactness=c) for c in (0.0, 3.0)}
    pp = {c: p.grids["polsby_popper"].mean() for c, p in plans.items()}
    assert pp[3.0] > pp[0.0] + 0.005
    for p in plans.values():
        assert p.report.ok


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), "round", True])
def test_compactness_must_be_a_number_at_least_zero(village3x3, bad):
    with pytest.raises(InputError, match="compactness"):
        microgrid.partition(*village3x3, compactness=bad)


def test_groups_keep_their_shape_bookkeeping(village):
    """Landmark groups contract into one node: the compactness term still sees whole perimeters."""
    units, graph = village
    groups = whole_groups(units, graph)
    r = partition_graph(
        units.persons,
        graph.u,
        graph.v,
        graph.cost,
        lo=200,
        hi=300,
        seed=0,
        groups=groups,
        area=shapely.area(units.geometry),
        perimeter=shapely.length(units.geometry),
        length=graph.length,
        compactness=2.0,
    )
    for g in np.unique(groups[groups >= 0]):
        assert len(np.unique(r.labels[groups == g])) == 1

"""Stage 3: the unit adjacency graph and its cut costs."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SQ, units_of
from microgrid.graph import RANK_COST, build_graph


@pytest.fixture
def four_cells():
    """Four 50 x 50 m cells; a road runs along x = 50."""
    xy = [(25, 25), (75, 25), (25, 75), (75, 75)]
    return units_of(xy, SQ, [[(50, -10), (50, 110)]])


def _edge(g, a, b):
    a, b = min(a, b), max(a, b)
    (i,) = np.flatnonzero((g.u == a) & (g.v == b))
    return i


def _unit_at(u, x, y):
    return int(np.flatnonzero(shapely.contains(u.geometry, shapely.Point(x, y)))[0])


def test_edges_of_four_cells(four_cells):
    g = build_graph(four_cells)
    assert g.n == 4
    assert len(g.u) == 4  # a ring: no diagonal neighbours across a single point
    assert (g.u < g.v).all()
    assert np.allclose(g.length, 50.0)


def test_barrier_edges_have_rank_length_and_kind(four_cells):
    g = build_graph(four_cells)
    u = four_cells
    sw, se, nw = _unit_at(u, 25, 25), _unit_at(u, 75, 25), _unit_at(u, 25, 75)
    on = _edge(g, sw, se)
    off = _edge(g, sw, nw)
    assert g.rank[on] == 2 and g.barrier_length[on] == pytest.approx(50.0) and g.kind[on] == "road"
    assert g.rank[off] == 0 and g.barrier_length[off] == 0 and g.kind[off] is None
    # same length, cheaper to cut along the road
    assert g.length[on] == pytest.approx(g.length[off])
    assert g.cost[on] < g.cost[off]
    assert g.cost[on] == pytest.approx(50.0 * RANK_COST[2])
    assert g.cost[off] == pytest.approx(50.0)


def test_rank_cost_order():
    assert RANK_COST[1] < RANK_COST[2] < RANK_COST[3] < RANK_COST[4] < 1.0


def test_partial_barrier_edge():
    # the road covers only half of the shared edge x = 50
    xy = [(25, 50), (75, 50)]
    u = units_of(xy, SQ, [[(50, -10), (50, 50)]])
    g = build_graph(u)
    assert u.n == 2
    assert len(g.u) == 1
    assert g.length[0] == pytest.approx(100.0)
    assert g.barrier_length[0] == pytest.approx(50.0)
    assert g.rank[0] == 2
    assert g.cost[0] == pytest.approx(50.0 + 50.0 * RANK_COST[2])


def test_3x3_village_graph(village3x3):
    from microgrid.inputs import prepare_inputs
    from microgrid.units import units_from_inputs

    inp = prepare_inputs(*village3x3)
    u = units_from_inputs(inp)
    g = build_graph(u)
    on = g.rank > 0
    assert on.any() and (~on).any()
    assert (g.barrier_length[on] > 0).all()
    assert all(k in ("main", "lane") for k in g.kind[on])
    assert (g.barrier_length[~on] == 0).all()
    # main roads rank 1, lanes rank 3
    assert set(g.rank[on].tolist()) == {1, 3}
    ratio = g.cost / g.length
    assert ratio[on].max() < ratio[~on].min()
    # total road length inside the village shared by units: 4 roads x 300 m
    assert g.barrier_length.sum() == pytest.approx(1200.0)


def test_csr_is_symmetric(four_cells):
    g = build_graph(four_cells)
    m = g.csr()
    assert (m != m.T).nnz == 0
    assert m.shape == (4, 4)
    lm = g.csr(g.length)
    assert lm.sum() == pytest.approx(2 * g.length.sum())


def test_to_networkx(four_cells):
    import networkx as nx

    g = build_graph(four_cells)
    G = g.to_networkx()
    assert isinstance(G, nx.Graph)
    assert G.number_of_nodes() == 4
    assert G.number_of_edges() == len(g.u)
    assert nx.is_connected(G)
    for _a, _b, d in G.edges(data=True):
        assert set(d) == {"length", "barrier_length", "rank", "kind", "cost"}
        assert d["length"] > 0
        assert (d["rank"] > 0) == (d["kind"] is not None)


def test_single_unit_graph_is_empty():
    g = build_graph(units_of([(10, 10)], SQ))
    assert g.n == 1
    assert len(g.u) == 0
    assert g.to_networkx().number_of_nodes() == 1


def test_exclave_is_disconnected():
    import networkx as nx

    b = shapely.MultiPolygon([SQ, shapely.box(200, 0, 230, 30)])
    g = build_graph(units_of([(10, 10), (90, 90), (210, 10)], b))
    assert nx.number_connected_components(g.to_networkx()) == 2


def test_rounding_contacts_are_not_edges():
    """Households in lon/lat, boundary and roads in UTM: rounding leaves contacts of ~1e-10 m between units.

    Such a contact must not count as adjacency, or a grid joined only through it dissolves into two parts.
    """
    import microgrid
    from conftest import block_village
    from microgrid.graph import MIN_SHARED
    from microgrid.inputs import prepare_inputs
    from microgrid.units import units_from_inputs

    hh, bnd, roads = block_village()
    units = units_from_inputs(prepare_inputs(hh.to_crs(4326), bnd, roads))
    g = build_graph(units)
    assert len(g.u) > 0 and (g.length >= MIN_SHARED).all()
    plan = microgrid.partition(hh.to_crs(4326), bnd, roads, compactness=0.5)
    assert plan.report.ok


# ------------------------------------------- edges agree with what dissolving does


def _near_concurrent(rng, n_tri, spread, size):
    """``n_tri`` triples of short straight footpaths, each triple passing within ``spread`` m of one point:
    three lines nearly through one point leave a sliver triangle millimetres wide (what 200,000 random
    footpaths on the sample village do hundreds of times)."""
    lines = []
    for _ in range(n_tri):
        p = rng.uniform(8, size - 8, 2)
        for _ in range(3):
            a = rng.uniform(0, np.pi)
            q = p + rng.uniform(-spread, spread, 2)
            d = np.array([np.cos(a), np.sin(a)]) * rng.uniform(2, 6)
            lines.append([tuple(q - d), tuple(q + d)])
    return lines


def _assert_edges_dissolve(u, g):
    a, b = u.geometry[g.u], u.geometry[g.v]
    # the shared boundary, measured on the geometry, is the edge's length
    shared = shapely.length(shapely.intersection(shapely.boundary(a), shapely.boundary(b)))
    assert np.allclose(shared, g.length, rtol=0, atol=1e-9)
    # and two neighbours dissolve into one polygon (a grid joined through the edge is one part)
    for i in range(len(g.u)):
        assert shapely.coverage_union_all([a[i], b[i]]).geom_type == "Polygon", (g.u[i], g.v[i])


def test_no_edge_across_a_sliver():
    # lines nearly through one point: sliver units 1e-5 m2 and thinner than a millimetre; the graph used to
    # join units on the two sides of a sliver (a point set 4 mm off a line jumped it), units that do not
    # share any boundary, and a grid joined through that edge came out in two parts
    rng = np.random.default_rng(4)
    u = units_of(rng.uniform(2, 58, (30, 2)), shapely.box(0, 0, 60, 60), _near_concurrent(rng, 12, 2e-3, 60))
    assert shapely.area(u.geometry).min() < 1e-4  # the slivers are there
    g = build_graph(u)
    _assert_edges_dissolve(u, g)
    # every unit, slivers included, has a neighbour
    assert set(range(u.n)) == set(g.u.tolist()) | set(g.v.tolist())


@settings(max_examples=25, deadline=None, derandomize=True, database=None)
@given(
    seed=st.integers(0, 10_000),
    n_hh=st.integers(2, 30),
    n_tri=st.integers(1, 12),
    spread=st.sampled_from([1e-4, 1e-3, 5e-3, 5e-2]),
)
def test_graph_edges_are_shared_boundaries(seed, n_hh, n_tri, spread):
    rng = np.random.default_rng(seed)
    u = units_of(rng.uniform(2, 58, (n_hh, 2)), shapely.box(0, 0, 60, 60), _near_concurrent(rng, n_tri, spread, 60))
    _assert_edges_dissolve(u, build_graph(u))

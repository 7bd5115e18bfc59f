"""Plan maps: plan.plot() (matplotlib) and plan.explore() (folium)."""

from __future__ import annotations

import dataclasses
import re

import geopandas as gpd
import matplotlib
import numpy as np
import pyproj
import pytest
import shapely

import microgrid
from microgrid.viz import code_labels, grid_colors, plot_plan

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def geo_plan():
    """A plan in lon/lat (EPSG:4326)."""
    return microgrid.partition(*microgrid.samples.make_village(500, seed=5, crs="EPSG:4326"))


@pytest.fixture(scope="module")
def flagged_plan():
    """One household of 420 persons: a site above max, given its own flagged grid."""
    hh, bnd, roads, marks = microgrid.samples.make_village(400, seed=3)
    hh = hh.copy()
    hh.loc[hh.index[7], "persons"] = 420
    plan = microgrid.partition(hh, bnd, roads, marks, on_infeasible="flag")
    assert plan.grids["flagged"].any()
    return plan


def _labels(ax):
    return [t.get_text() for t in ax.texts if t.get_gid() == "grid-label"]


def _legend_texts(ax):
    leg = ax.get_legend()
    assert leg is not None, "the map has a legend"
    return [t.get_text().replace("\n", " ") for t in leg.get_texts()]


def _scalebar(ax):
    texts = [t.get_text() for t in ax.texts if t.get_gid() == "scalebar"]
    bars = [p for p in ax.patches if p.get_gid() == "scalebar"]
    return texts, bars


def test_plot_labels_every_grid_with_code_and_persons(sample_plan):
    ax = sample_plan.plot()
    assert isinstance(ax, matplotlib.axes.Axes)
    labels = _labels(ax)
    assert len(labels) == sample_plan.n_grids  # one label per grid
    tails = code_labels(sample_plan.grids)
    assert tails == [c[-3:] for c in sample_plan.grids["code"]]
    for tail, persons in zip(tails, sample_plan.grids["persons"]):
        assert f"{tail}\n{int(persons)} p" in labels
    legend = _legend_texts(ax)
    assert any(t.startswith(f"grids ({sample_plan.n_grids})") for t in legend)
    assert "main road" in legend and "boundary" in legend
    assert any(t.startswith("households (") for t in legend)
    texts, bars = _scalebar(ax)
    assert len(bars) == 4 and any(re.fullmatch(r"\d+(\.\d+)? k?m", t) for t in texts)
    assert any(t.get_gid() == "north-arrow" for t in ax.texts)
    assert "grids" in ax.get_title()
    ax.figure.canvas.draw()  # renders without error


def test_plot_saves_png(sample_plan, tmp_path):
    ax = sample_plan.plot(title="sample")
    out = tmp_path / "map.png"
    ax.figure.savefig(out, dpi=80, bbox_inches="tight")
    assert out.stat().st_size > 20_000
    assert ax.get_title() == "sample"


def test_neighbours_get_different_colours(sample_plan):
    grids = sample_plan.grids
    colors = grid_colors(grids)
    assert len(colors) == len(grids)
    geoms = grids.geometry.to_numpy()
    pairs = 0
    for i in range(len(geoms)):
        for j in range(i + 1, len(geoms)):
            if shapely.length(shapely.intersection(geoms[i], geoms[j])) > 0:
                pairs += 1
                assert colors[i] != colors[j], (grids["grid_id"].iloc[i], grids["grid_id"].iloc[j])
    assert pairs >= len(grids) - 1


def test_plot_geographic_crs_scale_bar_in_metres(geo_plan):
    assert geo_plan.grids.crs.is_geographic
    ax = geo_plan.plot()
    assert len(_labels(ax)) == geo_plan.n_grids
    texts, bars = _scalebar(ax)
    label = [t for t in texts if t.endswith("m")][0]
    metres = float(label.split()[0]) * (1000 if label.endswith("km") else 1)
    width_deg = sum(b.get_width() for b in bars)
    lat = float(np.mean(ax.get_ylim()))
    lon = float(np.mean(ax.get_xlim()))
    geod = pyproj.Geod(ellps="WGS84")
    measured = geod.inv(lon, lat, lon + width_deg, lat)[2]
    assert measured == pytest.approx(metres, rel=0.01)
    # equal metres in x and y: the aspect is 1/cos(latitude)
    assert ax.get_aspect() == pytest.approx(1 / np.cos(np.radians(lat)), rel=0.01)


def test_plot_flagged_grid_hatched_and_in_legend(flagged_plan):
    ax = flagged_plan.plot()
    n_flag = int(flagged_plan.grids["flagged"].sum())
    assert any(t.startswith(f"flagged ({n_flag})") for t in _legend_texts(ax))
    hatched = [c for c in ax.collections if c.get_hatch()]
    assert hatched, "flagged grids are hatched"
    assert len(_labels(ax)) == flagged_plan.n_grids
    heavy = flagged_plan.grids[flagged_plan.grids["flagged"]]
    assert any(f"{int(p)} p" in t for t in _labels(ax) for p in heavy["persons"])
    assert "flagged" in ax.get_title()


def test_plot_options_and_given_axes(sample_plan):
    fig, (a, b) = plt.subplots(1, 2, figsize=(8, 4))
    out = sample_plan.plot(
        ax=b, labels=False, households=False, barriers=False, legend="lower left", scalebar=False, north_arrow=False
    )
    assert out is b
    assert not _labels(b) and not _scalebar(b)[0]
    legend = _legend_texts(b)
    assert "main road" not in legend and not any(t.startswith("households") for t in legend)
    plot_plan(sample_plan, ax=a, legend=False, fontsize=7)
    assert a.get_legend() is None
    assert {t.get_fontsize() for t in a.texts if t.get_gid() == "grid-label"} == {7.0}


def test_plot_nested_levels_labels_unique(sample_village):
    plan = microgrid.partition(
        *sample_village, levels=[microgrid.Level("grid", 500, 800), microgrid.Level("microgrid", 200, 300)]
    )
    ax = plan.plot()
    labels = _labels(ax)
    assert len(labels) == plan.n_grids
    assert len({s.split("\n")[0] for s in labels}) == plan.n_grids  # codes shown are unique
    assert any(t.startswith("grid (") for t in _legend_texts(ax))


def test_plot_shows_errors_of_an_invalid_plan(sample_plan):
    grids = sample_plan.grids.copy()
    grids = grids.drop(index=grids.index[0])
    rep = microgrid.validate(grids, sample_plan.households, sample_plan.boundary, assignment_col="grid_id")
    broken = dataclasses.replace(sample_plan, grids=grids, report=rep)
    ax = broken.plot()
    assert any(t.startswith("error:") for t in _legend_texts(ax))
    assert "errors" in ax.get_title()


def test_stacked_grids_share_one_label():
    from microgrid.viz import _draw_labels

    sq = shapely.box(0, 0, 100, 100)
    grids = gpd.GeoDataFrame({"grid_id": [1, 2, 3]}, geometry=[sq, sq, shapely.box(100, 0, 200, 100)], crs=32650)
    fig, ax = plt.subplots()
    ax.set_xlim(0, 200)
    ax.set_ylim(0, 100)
    texts = _draw_labels(ax, grids, ["001\n250 p", "002\n260 p", "003\n270 p"])
    assert sorted(t.get_text() for t in texts) == ["001/002\n250 p/260 p", "003\n270 p"]


def test_plan_plot_does_not_import_heavy_modules_on_import():
    import subprocess
    import sys

    code = "import sys, microgrid; print(any(m in sys.modules for m in ('matplotlib', 'folium')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------- folium


def test_explore_plan_popups_codes_and_teams(sample_plan):
    folium = pytest.importorskip("folium")
    teams = {gid: f"leader: L{gid}; worker: W{gid}" for gid in sample_plan.grids["grid_id"]}
    m = sample_plan.explore(teams=teams, households=True)
    assert isinstance(m, folium.Map)
    text = m.get_root().render()
    for code in sample_plan.grids["code"]:
        assert code in text
    assert "bindPopup" in text  # popups on the grids
    for alias in ("code", "persons", "households", "team"):
        assert f'"{alias}"' in text
    assert "leader: L1; worker: W1" in text
    assert "microgrid-legend" in text and "main road" in text
    assert "households (" in text  # the household layer
    assert "L.control.layers" in text  # a layer control
    assert "L.control.scale()" in text  # a scale


def test_explore_plan_with_assign_teams(sample_plan):
    pytest.importorskip("folium")
    rng = np.random.default_rng(0)
    hh = sample_plan.households.sample(60, random_state=1)
    roles = rng.choice(["leader", "worker", "volunteer"], size=len(hh))
    people = gpd.GeoDataFrame(
        {"person_id": [f"P{i:03d}" for i in range(len(hh))], "role": roles}, geometry=hh.geometry.to_numpy(), crs=hh.crs
    )
    teams = microgrid.assign_teams(sample_plan.grids, people)
    text = sample_plan.explore(teams=teams).get_root().render()
    some = teams.members.iloc[0]
    assert f"{some['role']}: " in text and str(some["person_id"]) in text


def test_explore_flagged_and_violations(flagged_plan, sample_plan):
    pytest.importorskip("folium")
    text = flagged_plan.explore().get_root().render()
    reason = str(flagged_plan.grids.loc[flagged_plan.grids["flagged"], "flag_reason"].iloc[0])
    assert reason and reason[:30] in text
    assert "flagged (" in text
    grids = sample_plan.grids.drop(index=sample_plan.grids.index[0])
    rep = microgrid.validate(grids, sample_plan.households, sample_plan.boundary, assignment_col="grid_id")
    broken = dataclasses.replace(sample_plan, grids=grids, report=rep)
    text = broken.explore().get_root().render()
    assert "violations (" in text and '"gap"' in text
    assert "#d62728" in text  # errors in red


def test_explore_geographic_plan(geo_plan):
    pytest.importorskip("folium")
    m = geo_plan.explore(tiles=None)
    text = m.get_root().render()
    assert all(code in text for code in geo_plan.grids["code"])


def test_report_map_has_legend_scalebar_and_labels(sample_plan):
    grids = sample_plan.grids.drop(index=sample_plan.grids.index[1])
    rep = microgrid.validate(grids, sample_plan.households, sample_plan.boundary, assignment_col="grid_id")
    ax = rep.plot(grids, sample_plan.households, barriers=sample_plan.barriers, boundary=sample_plan.boundary)
    legend = _legend_texts(ax)
    assert any("gap" in t for t in legend) and "main road" in legend
    texts, bars = _scalebar(ax)
    assert bars and any(t.endswith(" m") for t in texts)
    assert len(_labels(ax)) == len(grids)
    pytest.importorskip("folium")
    html = (
        rep.explore(grids, sample_plan.households, barriers=sample_plan.barriers, boundary=sample_plan.boundary)
        .get_root()
        .render()
    )
    assert "microgrid-legend" in html and "problems" in html


def test_explore_report_with_overlaps_and_geometry_collections(sample_plan):
    pytest.importorskip("folium")
    grids = sample_plan.grids.copy()
    grids["geometry"] = grids.geometry.simplify(1.5)  # traced separately: slivers of gap and overlap
    grids.loc[grids.index[0], "geometry"] = grids.geometry.iloc[0].buffer(8)
    rep = microgrid.validate(grids, sample_plan.households, sample_plan.boundary, assignment_col="grid_id")
    v = rep.violations.copy()
    first = v.index[v["check"] == "overlap"][0]
    poly = v.geometry.loc[first]
    # overlays often give polygons with stray lines: a kind folium's tooltips cannot render (a warning)
    v.loc[first, "geometry"] = shapely.GeometryCollection([poly, shapely.LineString(poly.exterior.coords[:2])])
    rep = dataclasses.replace(rep, violations=v)
    html = rep.explore(grids, sample_plan.households).get_root().render()  # warnings are errors here
    assert '"overlap"' in html
    ax = rep.plot(grids, sample_plan.households)
    assert any("overlap" in t for t in _legend_texts(ax))

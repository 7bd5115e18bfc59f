"""Report maps: static PNG (matplotlib) and interactive HTML (folium, viz extra)."""

from __future__ import annotations

import matplotlib
import pytest
import shapely

import microgrid
from microgrid.viz import save_map

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def broken():
    hh, bnd, roads, marks = microgrid.samples.make_village(500, seed=2)
    plan = microgrid.partition(hh, bnd, roads, marks)
    grids = plan.grids.copy()
    # plant a gap: cut a hole into grid 1
    g = grids.geometry.iloc[0]
    hole = shapely.buffer(g.representative_point(), 5)
    grids.loc[grids.index[0], "geometry"] = g.difference(hole)
    rep = microgrid.validate(grids, plan.households, plan.boundary, assignment_col="grid_id")
    assert not rep.ok
    return rep, grids, plan.households


def test_png_map(broken, tmp_path):
    rep, grids, hh = broken
    out = save_map(rep, grids, tmp_path / "r.png", households=hh)
    assert out.stat().st_size > 5_000
    ax = rep.plot(grids)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("gap" in t for t in labels)


def test_html_map(broken, tmp_path):
    pytest.importorskip("folium")
    rep, grids, hh = broken
    out = save_map(rep, grids, tmp_path / "r.html", households=hh)
    text = out.read_text(encoding="utf-8")
    assert "leaflet" in text.lower()
    assert "gap" in text  # the violation's check name is in a tooltip


def test_unknown_map_format(broken, tmp_path):
    rep, grids, _ = broken
    with pytest.raises(microgrid.MicrogridError, match="not supported"):
        save_map(rep, grids, tmp_path / "r.bmp")


@pytest.mark.parametrize(
    "labels, note",
    [
        (True, ", label: code / persons (p)"),
        ("code", ", label: code / persons (p)"),
        ("name", ", label: name / persons (p)"),
        ("persons", ", label: persons (p)"),
        (False, ""),
    ],
)
def test_plan_legend_describes_the_labels_drawn(labels, note):
    import matplotlib.pyplot as plt

    plan = microgrid.partition(*microgrid.samples.make_village(300, seed=1))
    ax = plan.plot(labels=labels)
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert f"grids ({plan.n_grids}){note}" in texts, texts
    plt.close("all")

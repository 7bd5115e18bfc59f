"""Maps that work offline and in China: self-contained HTML (checked in headless Chromium), basemaps,
Chinese labels in PNG maps, and ``microgrid map``."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

import geopandas as gpd
import matplotlib
import numpy as np
import pytest
import shapely

import microgrid
from microgrid import viz_assets
from microgrid.cli import main

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

folium = pytest.importorskip("folium")

REQUIRE_CHROMIUM = os.environ.get("MICROGRID_REQUIRE_CHROMIUM") == "1"
REQUIRE_CJK_FONT = os.environ.get("MICROGRID_REQUIRE_CJK_FONT") == "1"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        exe = shutil.which(name)
        if exe:
            return exe
    if REQUIRE_CHROMIUM:
        pytest.fail("MICROGRID_REQUIRE_CHROMIUM=1 but no chromium on PATH (apt-get install chromium)")
    pytest.skip("headless chromium is not installed (apt-get install chromium)")


def _load_in_chromium(path: Path) -> tuple[str, list[str]]:
    """The DOM of ``path`` after its scripts ran, and the browser console messages."""
    exe = _chromium()
    with tempfile.TemporaryDirectory() as profile:
        res = subprocess.run(
            [
                exe,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--no-first-run",
                "--disable-extensions",
                f"--user-data-dir={profile}",
                "--enable-logging=stderr",
                "--v=0",
                "--virtual-time-budget=5000",
                "--dump-dom",
                path.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert res.returncode == 0, res.stderr[-2000:]
    console = [line for line in res.stderr.splitlines() if ":CONSOLE" in line]
    return res.stdout, console


def _no_remote_resources(text: str):
    tags = re.findall(r"<(?:script|link)\b[^>]*>", text)
    remote = [t for t in tags if re.search(r"""(src|href)=["']?(https?:)?//""", t)]
    assert not remote, f"the page loads resources from the network: {remote}"


# ---------------------------------------------------------------- self-contained HTML


def test_html_plan_map_is_self_contained(sample_plan):
    text = sample_plan.explore(households=True).get_root().render()
    _no_remote_resources(text)
    assert "<script src=" not in text and 'rel="stylesheet"' not in text
    assert 'data-inlined="leaflet"' in text and 'data-inlined="leaflet_css"' in text
    # the licence notice of the inlined library stays in the page
    assert "Leaflet 1.9" in text and "BSD 2-Clause" in text and "Vladimir Agafonkin" in text
    for unused in ("jquery", "bootstrap", "font-awesome", "fontawesome", "awesome-markers"):
        assert unused not in text.lower(), unused
    assert "tile.openstreetmap.org" not in text  # no basemap by default: nothing to fetch
    m = sample_plan.explore()
    for _ in range(2):  # rendering again (saving twice, a notebook) stays self-contained
        again = m.get_root().render()
        _no_remote_resources(again)
        assert again.count('data-inlined="leaflet"') == 1


def test_html_report_map_is_self_contained(sample_plan, tmp_path):
    grids = sample_plan.grids.drop(index=sample_plan.grids.index[0])
    rep = microgrid.validate(grids, sample_plan.households, sample_plan.boundary, assignment_col="grid_id")
    out = microgrid.viz.save_map(rep, grids, tmp_path / "r.html", households=sample_plan.households)
    text = out.read_text(encoding="utf-8")
    _no_remote_resources(text)
    assert 'data-inlined="leaflet"' in text and '"gap"' in text


def test_many_households_cluster_inline(sample_plan):
    from microgrid.viz import _folium_households, _folium_map

    rng = np.random.default_rng(0)
    x0, y0, x1, y1 = sample_plan.grids.total_bounds
    pts = gpd.GeoDataFrame(
        geometry=gpd.points_from_xy(rng.uniform(x0, x1, 5001), rng.uniform(y0, y1, 5001)), crs=sample_plan.grids.crs
    )
    m = _folium_map(sample_plan.grids.to_crs(4326).total_bounds)
    _folium_households(m, pts, [])
    text = m.get_root().render()
    _no_remote_resources(text)
    assert 'data-inlined="markerclusterjs"' in text and "L.MarkerClusterGroup" in text


def test_missing_leaflet_package_says_what_to_install(sample_plan, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_xstatic(name, *args, **kw):
        if name.startswith("xstatic"):
            raise ImportError(name)
        return real_import(name, *args, **kw)

    import importlib

    real_module = importlib.import_module
    monkeypatch.setattr(
        importlib,
        "import_module",
        lambda name, *a: no_xstatic(name) if name.startswith("xstatic") else real_module(name, *a),
    )
    viz_assets.leaflet_assets.cache_clear()
    try:
        with pytest.raises(microgrid.MicrogridError, match=r'xstatic-leaflet.*pip install -e "\.\[viz\]"'):
            sample_plan.explore()
    finally:
        monkeypatch.undo()
        viz_assets.leaflet_assets.cache_clear()


def test_html_maps_draw_in_headless_chromium(sample_plan, tmp_path):
    """The saved pages run in a real browser without network: grids drawn, no console error."""
    _chromium()
    plan_html = tmp_path / "plan.html"
    sample_plan.explore(households=True).save(str(plan_html))
    grids = sample_plan.grids.drop(index=sample_plan.grids.index[0])
    rep = microgrid.validate(grids, sample_plan.households, sample_plan.boundary, assignment_col="grid_id")
    report_html = microgrid.viz.save_map(rep, grids, tmp_path / "report.html", households=sample_plan.households)
    # more than 5,000 households: clustered markers (Leaflet.markercluster, inline too)
    from microgrid.viz import _folium_grids, _folium_households, _folium_map

    rng = np.random.default_rng(0)
    x0, y0, x1, y1 = sample_plan.grids.total_bounds
    pts = gpd.GeoDataFrame(
        geometry=gpd.points_from_xy(rng.uniform(x0, x1, 5001), rng.uniform(y0, y1, 5001)), crs=sample_plan.grids.crs
    )
    m = _folium_map(sample_plan.grids.to_crs(4326).total_bounds)
    _folium_grids(m, sample_plan.grids, ["#a6cee3"] * sample_plan.n_grids, ["grid_id"], ["grid id"])
    _folium_households(m, pts, [])
    cluster_html = tmp_path / "cluster.html"
    m.save(str(cluster_html))
    dom, console = _load_in_chromium(cluster_html)
    assert not console, f"cluster.html: browser console: {console}"
    assert "marker-cluster" in dom  # the cluster icons were drawn by the inlined plugin
    for path, n_grids in ((plan_html, sample_plan.n_grids), (report_html, len(grids))):
        dom, console = _load_in_chromium(path)
        assert not console, f"{path.name}: browser console: {console}"
        paths = re.findall(r'<path\b[^>]*class="[^"]*leaflet-interactive', dom)
        assert len(paths) >= n_grids, f"{path.name}: {len(paths)} leaflet paths for {n_grids} grids"
        assert "leaflet-container" in dom and "microgrid-legend" in dom
        assert dom.count("leaflet-marker-icon") >= n_grids  # the grid labels


def test_cdn_page_fails_offline_in_chromium(tmp_path):
    """The check can fail: folium's own page (CDN links) shows "L is not defined" without network."""
    _chromium()
    page = tmp_path / "cdn.html"
    page.write_text(
        '<html><head><script src="https://cdn.invalid/leaflet.js"></script></head>'
        '<body><div id="m"></div><script>L.map("m")</script></body></html>',
        encoding="utf-8",
    )
    _, console = _load_in_chromium(page)
    assert any("L is not defined" in line for line in console), console


# ---------------------------------------------------------------- basemaps


def test_default_basemap_is_none_and_osm_on_request(sample_plan):
    assert "tile.openstreetmap.org" not in sample_plan.explore().get_root().render()
    assert "tile.openstreetmap.org" in sample_plan.explore(basemap="osm").get_root().render()


def test_tianditu_needs_a_key(sample_plan):
    with pytest.raises(microgrid.InputError, match="tianditu_key"):
        sample_plan.explore(basemap="tianditu")
    text = sample_plan.explore(basemap="tianditu", tianditu_key="KEY123").get_root().render()
    assert "tianditu.gov.cn/vec_w/wmts" in text and "tk=KEY123" in text and "cva_w" in text
    with pytest.raises(microgrid.InputError, match="unknown basemap"):
        sample_plan.explore(basemap="google")


def _first_ring(text: str) -> np.ndarray:
    """Coordinates of the first grid polygon in a rendered folium page."""
    m = re.search(r'"coordinates": \[\[(\[[-\d.e]+, [-\d.e]+\](?:, \[[-\d.e]+, [-\d.e]+\])*)\]', text)
    assert m, "no polygon in the page"
    return np.array(eval("[" + m.group(1) + "]"))  # noqa: S307 - our own numbers


def test_amap_layers_are_shifted_to_gcj02(geo_plan_cn):
    plain = geo_plan_cn.explore().get_root().render()
    amap = geo_plan_cn.explore(basemap="amap").get_root().render()
    assert "autonavi.com" in amap and "GCJ-02" in amap and "microgrid-note" in amap
    a, b = _first_ring(plain), _first_ring(amap)
    expected = np.column_stack(microgrid.crs.wgs84_to_gcj02(a[:, 0], a[:, 1]))
    assert np.allclose(b, expected, atol=1e-7)
    shift_m = np.hypot(*(b - a)[0] * [111_000 * np.cos(np.radians(a[0, 1])), 111_000])
    assert 100 < shift_m < 1000  # GCJ-02 moves points a few hundred metres in China
    assert "autonavi" not in plain and "GCJ-02" not in plain


@pytest.fixture(scope="module")
def geo_plan_cn():
    """A small plan placed in Beijing, in lon/lat (make_village's default place is in China)."""
    hh, bnd, roads, marks = microgrid.samples.make_village(300, seed=1)
    plan = microgrid.partition(hh, bnd, roads, marks)
    c = plan.grids.to_crs(4326).geometry.union_all().centroid
    assert 73 < c.x < 135 and 18 < c.y < 54, "the sample village lies in China"
    return plan


# ---------------------------------------------------------------- Chinese labels in PNG maps


def _cjk_or_skip():
    font = viz_assets.cjk_font()
    if font is None:
        if REQUIRE_CJK_FONT:
            pytest.fail(
                "MICROGRID_REQUIRE_CJK_FONT=1 but matplotlib finds no CJK font (apt-get install fonts-noto-cjk)"
            )
        pytest.skip("no CJK font installed (apt-get install fonts-noto-cjk)")
    return font


def test_png_name_labels_render_chinese_without_missing_glyphs(sample_plan, tmp_path):
    font = _cjk_or_skip()
    assert viz_assets.has_cjk("".join(sample_plan.grids["name"].astype(str)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns "Glyph ... missing from font(s)" for boxes
        ax = sample_plan.plot(labels="name", title="网格划分 示例村")
        ax.figure.savefig(tmp_path / "names.png", dpi=60)
    labels = [t for t in ax.texts if t.get_gid() == "grid-label"]
    assert len(labels) == sample_plan.n_grids
    shown = {t.get_text().split("\n")[0] for t in labels}
    assert shown & set(sample_plan.grids["name"].astype(str))
    assert all(t.get_fontfamily()[0] == font for t in labels)
    assert ax.title.get_fontfamily()[0] == font


def test_png_labels_options(sample_plan):
    ax = sample_plan.plot(labels="persons")
    texts = [t.get_text() for t in ax.texts if t.get_gid() == "grid-label"]
    assert all(re.fullmatch(r"\d+ p", t) for t in texts)
    ax = sample_plan.plot(labels="code")
    latin = [t for t in ax.texts if t.get_gid() == "grid-label"]
    assert all(t.get_fontfamily()[0] != "Noto Sans CJK SC" for t in latin)  # no CJK font for plain codes
    with pytest.raises(microgrid.InputError, match="labels must be"):
        sample_plan.plot(labels="colour")


def test_no_cjk_font_warns_once_naming_the_package(sample_plan, monkeypatch):
    monkeypatch.setattr(viz_assets, "cjk_font", lambda: None)
    monkeypatch.setattr(viz_assets, "_warned", False)
    with pytest.warns(UserWarning, match="fonts-noto-cjk") as rec:
        assert viz_assets.cjk_family("小学") is None
        assert viz_assets.cjk_family("祠堂") is None
    assert len([w for w in rec if "fonts-noto-cjk" in str(w.message)]) == 1
    assert viz_assets.cjk_family("001") is None  # plain Latin: no font needed, no warning


def test_cjk_font_registers_a_font_the_cache_missed(monkeypatch):
    """A font installed after matplotlib built its cache is found by file name and registered."""
    from matplotlib import font_manager as fm

    _cjk_or_skip()
    cached = [f for f in fm.fontManager.ttflist if f.name not in viz_assets.CJK_FAMILIES]
    monkeypatch.setattr(fm.fontManager, "ttflist", cached)
    viz_assets.cjk_font.cache_clear()
    try:
        assert viz_assets.cjk_font() in viz_assets.CJK_FAMILIES
    finally:
        viz_assets.cjk_font.cache_clear()


# ---------------------------------------------------------------- microgrid map


@pytest.fixture(scope="module")
def plan_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("mapcli") / "plan.gpkg"
    plan = microgrid.partition(*microgrid.samples.make_village(300, seed=1))
    plan.to_file(path)
    return path, plan


def test_map_command_png_and_html(plan_file, tmp_path, capsys):
    path, plan = plan_file
    assert main(["map", str(path), "--out", str(tmp_path / "m.png")]) == 0
    assert (tmp_path / "m.png").stat().st_size > 20_000
    assert main(["map", str(path), "--out", str(tmp_path / "m.html"), "--labels", "name"]) == 0
    text = (tmp_path / "m.html").read_text(encoding="utf-8")
    _no_remote_resources(text)
    for code, name in zip(plan.grids["code"], plan.grids["name"]):
        assert code in text and (name in text or json.dumps(name)[1:-1] in text)
    assert main(["map", str(path), "--out", str(tmp_path / "m.html")]) != 0  # never replaced by accident
    assert "exists" in capsys.readouterr().err
    assert (
        main(
            [
                "map",
                str(path),
                "--out",
                str(tmp_path / "m.html"),
                "--overwrite",
                "--basemap",
                "tianditu",
                "--tianditu-key",
                "K9",
            ]
        )
        == 0
    )
    assert "tk=K9" in (tmp_path / "m.html").read_text(encoding="utf-8")


def test_map_command_errors(plan_file, tmp_path, capsys):
    path, _ = plan_file
    assert main(["map", str(path), "--out", str(tmp_path / "t.html"), "--basemap", "tianditu"]) != 0
    assert "--tianditu-key" in capsys.readouterr().err
    assert main(["map", str(tmp_path / "nope.gpkg"), "--out", str(tmp_path / "x.png")]) != 0
    assert "not found" in capsys.readouterr().err
    assert main(["map", str(path), "--out", str(tmp_path / "x.bmp")]) != 0
    assert "not supported" in capsys.readouterr().err


def test_plan_from_file_shows_errors_of_a_broken_plan(plan_file, tmp_path):
    from microgrid.viz import plan_from_file

    path, plan = plan_file
    grids = plan.grids.copy()
    g = grids.geometry.iloc[0]
    grids.loc[grids.index[0], "geometry"] = g.difference(shapely.buffer(g.representative_point(), 5))
    broken = tmp_path / "broken.gpkg"
    microgrid.Plan(
        grids=grids, households=plan.households, report=plan.report, boundary=plan.boundary, barriers=plan.barriers
    ).to_file(broken)
    back = plan_from_file(broken)
    assert back.n_grids == plan.n_grids and not back.report.ok
    assert main(["map", str(broken), "--out", str(tmp_path / "b.html")]) == 0
    assert '"gap"' in (tmp_path / "b.html").read_text(encoding="utf-8")


def test_report_map_over_amap_shifts_every_layer(sample_plan):
    grids = sample_plan.grids.drop(index=sample_plan.grids.index[0])
    rep = microgrid.validate(grids, sample_plan.households, sample_plan.boundary, assignment_col="grid_id")
    plain = (
        rep.explore(
            grids, sample_plan.households, barriers=sample_plan.barriers, boundary=sample_plan.boundary.geometry.iloc[0]
        )
        .get_root()
        .render()
    )
    amap = (
        rep.explore(
            grids,
            sample_plan.households,
            barriers=sample_plan.barriers,
            boundary=sample_plan.boundary.geometry.iloc[0],
            basemap="amap",
        )
        .get_root()
        .render()
    )
    assert "autonavi.com" in amap and "GCJ-02" in amap and '"gap"' in amap
    a, b = _first_ring(plain), _first_ring(amap)
    assert np.allclose(b, np.column_stack(microgrid.crs.wgs84_to_gcj02(a[:, 0], a[:, 1])), atol=1e-7)

"""Self-contained maps: Leaflet inlined into HTML maps, a CJK font for PNG maps, basemaps for China.

- :func:`inline_assets` makes a folium map work offline: folium links
  Leaflet, jQuery, Bootstrap and Font Awesome from public CDNs (blocked or
  absent on many government networks: the map is blank, "L is not defined").
  At render time the Leaflet (and MarkerCluster) JavaScript and CSS are
  written into the page from the PyPI packages ``xstatic-leaflet`` and
  ``xstatic-leaflet-markercluster`` (in the ``viz`` extra), with their
  licence banners; the CDN links folium adds but our maps do not use are
  dropped.
- :func:`cjk_font` finds a font with Chinese glyphs for matplotlib (Noto
  Sans CJK, Source Han, WenQuanYi, ...), registering its file when
  matplotlib's font cache predates it.
- :data:`BASEMAPS`: ``"none"`` (default, offline), ``"osm"``,
  ``"tianditu"`` (天地图, needs a key) and ``"amap"`` (高德, GCJ-02).
"""

from __future__ import annotations

import base64
import functools
import logging
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import InputError, MicrogridError

if TYPE_CHECKING:
    import folium

log = logging.getLogger(__name__)

__all__ = ["inline_assets", "leaflet_assets", "cjk_font", "has_cjk", "BASEMAPS", "basemap_layers"]

#: folium's CDN resources (by their names in ``folium.Map.default_js/default_css``) that our maps do not use.
_UNUSED = {
    "jquery",
    "bootstrap",
    "awesome_markers",
    "bootstrap_css",
    "glyphicons_css",
    "awesome_markers_font_css",
    "awesome_markers_css",
    "awesome_rotate_css",
}
#: folium names of the resources written into the page, with (xstatic package, file).
_INLINE = {
    "leaflet": ("leaflet", "leaflet.js"),
    "leaflet_css": ("leaflet", "leaflet.css"),
    "markerclusterjs": ("leaflet_markercluster", "leaflet.markercluster.js"),
    "markerclustercss": ("leaflet_markercluster", "MarkerCluster.css"),
    "markerclusterdefaultcss": ("leaflet_markercluster", "MarkerCluster.Default.css"),
}
_PIP = {"leaflet": "xstatic-leaflet", "leaflet_markercluster": "xstatic-leaflet-markercluster"}
_NOTICE = {
    "leaflet": "Leaflet {v} (https://leafletjs.com), BSD 2-Clause License, copyright as in its banner below "
    "(Vladimir Agafonkin, CloudMade); inlined from the PyPI package xstatic-leaflet.",
    "leaflet_markercluster": "Leaflet.markercluster {v} (https://github.com/Leaflet/Leaflet.markercluster), "
    "MIT License, (c) 2012 David Leaver; inlined from the PyPI package "
    "xstatic-leaflet-markercluster.",
}


def _xstatic(pkg: str):
    import importlib

    try:
        return importlib.import_module(f"xstatic.pkg.{pkg}")
    except ImportError:
        raise MicrogridError(
            f"self-contained HTML maps need {_PIP[pkg]}; install it with: pip install "
            f'-e ".[viz]" (from the microgrid checkout) or pip install {_PIP[pkg]}'
        ) from None


@functools.cache
def leaflet_assets(name: str) -> str:
    """The text of one inlined resource (folium's name for it, e.g. ``"leaflet"``), with its licence notice.

    Images the CSS refers to (``url(images/layers.png)``) become ``data:`` URLs.
    """
    pkg, file = _INLINE[name]
    mod = _xstatic(pkg)
    base = Path(mod.BASE_DIR)
    text = (base / file).read_text(encoding="utf-8")
    notice = _NOTICE[pkg].format(v=getattr(mod, "VERSION", "?"))
    if file.endswith(".css"):

        def data_url(m):
            img = base / m.group(1)
            if not img.is_file():
                return m.group(0)
            kind = "image/svg+xml" if img.suffix == ".svg" else f"image/{img.suffix.lstrip('.')}"
            return f"url(data:{kind};base64,{base64.b64encode(img.read_bytes()).decode('ascii')})"

        text = re.sub(r"url\((images/[^)]+)\)", data_url, text)
    # a closing tag inside the code would end the element early
    text = text.replace("</script", "<\\/script").replace("</style", "<\\/style")
    return f"/* {notice} */\n{text}"


def _inline_element(name: str):
    import branca.element as be

    code = leaflet_assets(name)
    tag = "style" if name.endswith("css") else "script"
    return be.Element(f'<{tag} data-inlined="{name}">\n{code}\n</{tag}>')


def _offline_header(header) -> list[str]:
    """Replace the CDN links in a figure header by inline code; returns the links left (none for our maps)."""
    import branca.element as be

    children = list(header._children.items())
    header._children.clear()
    external = []
    for name, child in children:
        if isinstance(child, (be.JavascriptLink, be.CssLink)):
            if name in _INLINE:
                child = _inline_element(name)
            elif name in _UNUSED:
                continue
            else:
                external.append(child.url)
        header._children[name] = child
    return external


def inline_assets(m: folium.Map) -> folium.Map:
    """Make folium map ``m`` self-contained: its page carries Leaflet instead of linking CDNs.

    Adds an element to ``m`` that, when the page is rendered (``m.save``,
    ``m.get_root().render()``, a notebook), swaps folium's CDN links for
    inline ``<script>``/``<style>`` code from the ``xstatic-leaflet``
    packages and drops jQuery, Bootstrap and Font Awesome, which these maps
    do not use. Tiles of a basemap still come from the network. Returns ``m``.
    """
    import folium
    from branca.element import MacroElement

    class _Offline(MacroElement):
        _name = "OfflineAssets"

        def render(self, **kwargs):  # branca's Element.render, untyped there
            left = _offline_header(self.get_root().header)
            if left:
                log.warning("HTML map still links %s", ", ".join(left))
            super().render(**kwargs)

    for name in ("leaflet", "leaflet_css"):
        leaflet_assets(name)  # fail now, not while saving, when the package is missing
    if not isinstance(m, folium.Map):  # pragma: no cover - defensive
        raise TypeError("inline_assets needs a folium.Map")
    # a child of the page, after the map: it renders once the map and all its layers put their links in
    m.get_root().add_child(_Offline(), name="offline_assets")
    return m


# ---------------------------------------------------------------- basemaps

#: Basemap names: ``none`` (no tiles: works offline), ``osm``, ``tianditu`` (天地图, a key), ``amap`` (高德, GCJ-02).
BASEMAPS = ("none", "osm", "tianditu", "amap")

_TIANDITU = (
    "https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER={layer}"
    "&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}&tk={key}"
)
_AMAP = "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}"


def check_basemap(basemap: str | None, tianditu_key: str | None = None) -> str:
    """The basemap name, checked: one of :data:`BASEMAPS` (None means ``"none"``)."""
    b = "none" if basemap is None else str(basemap).strip().lower()
    b = {"openstreetmap": "osm", "天地图": "tianditu", "gaode": "amap", "高德": "amap"}.get(b, b)
    if b not in BASEMAPS:
        raise InputError(f"unknown basemap {basemap!r}; use one of: {', '.join(BASEMAPS)}")
    if b == "tianditu" and not tianditu_key:
        raise InputError(
            'basemap "tianditu" (天地图) needs your key: tianditu_key=... (CLI: --tianditu-key); '
            "apply for one at https://console.tianditu.gov.cn"
        )
    return b


def basemap_layers(basemap: str, tianditu_key: str | None = None) -> list[dict]:
    """Keyword arguments of the ``folium.TileLayer`` of each tile layer of a basemap (none for ``"none"``)."""
    b = check_basemap(basemap, tianditu_key)
    if b == "osm":
        return [dict(tiles="OpenStreetMap", name="OpenStreetMap", max_native_zoom=19, max_zoom=20)]
    if b == "tianditu":
        attr = '&copy; <a href="https://www.tianditu.gov.cn">天地图 Tianditu</a>'
        return [
            dict(
                tiles=_TIANDITU.format(layer=layer, key=tianditu_key),
                attr=attr,
                name=name,
                subdomains="01234567",
                max_native_zoom=18,
                max_zoom=20,
                overlay=overlay,
                control=overlay,
            )
            for layer, name, overlay in (("vec", "天地图 Tianditu", False), ("cva", "天地图注记 labels", True))
        ]
    if b == "amap":
        return [
            dict(
                tiles=_AMAP,
                attr='&copy; <a href="https://www.amap.com">高德 AMap</a> (GCJ-02)',
                name="高德 AMap",
                subdomains="1234",
                max_native_zoom=18,
                max_zoom=20,
            )
        ]
    return []


# ---------------------------------------------------------------- CJK fonts in PNG maps

_CJK_RE = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")
#: Families with Chinese glyphs, best first.
CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "Noto Serif CJK SC",
    "Source Han Serif SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Hiragino Sans GB",
    "Heiti SC",
    "SimSun",
    "AR PL UMing CN",
    "Droid Sans Fallback",
)
_CJK_FILES = re.compile(
    r"(notosans(mono)?cjk|notoserifcjk|notosanssc|sourcehan|wqy|wenquanyi|msyh|simhei|simsun"
    r"|pingfang|droidsansfallback|uming|ukai)",
    re.I,
)
_warned = False


def has_cjk(*texts: object) -> bool:
    """Whether any of the texts holds a Chinese (CJK) character."""
    return any(isinstance(t, str) and _CJK_RE.search(t) for t in texts)


@functools.lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The family name of a font with Chinese glyphs known to matplotlib, or None.

    matplotlib's font cache is built once; a font installed after that (e.g.
    ``apt-get install fonts-noto-cjk``) is not in it, so font files with a
    CJK name found in the system font folders are registered first.
    """
    from matplotlib import font_manager as fm

    def known():
        names = {f.name for f in fm.fontManager.ttflist}
        return next((f for f in CJK_FAMILIES if f in names), None)

    found = known()
    if found:
        return found
    try:
        files = fm.findSystemFonts(fontext="ttf") + fm.findSystemFonts(fontext="otf")  # type: ignore[arg-type]
    except Exception:  # pragma: no cover - odd font folders
        files = []
    for path in sorted(set(files)):
        if _CJK_FILES.search(Path(path).name):
            try:
                fm.fontManager.addfont(path)
            except Exception:  # pragma: no cover - an unreadable font file
                continue
    return known()


def cjk_family(*texts: object) -> list[str] | None:
    """A matplotlib font family list that can draw ``texts``: None when they are plain Latin.

    Warns once, naming the package to install, when the texts hold Chinese
    and no CJK font is found.
    """
    global _warned
    if not has_cjk(*texts):
        return None
    font = cjk_font()
    if font is None:
        if not _warned:
            _warned = True
            warnings.warn(
                "no font with Chinese glyphs found: Chinese labels show as boxes; install one, e.g. "
                "Debian/Ubuntu: apt-get install fonts-noto-cjk (or fonts-wqy-zenhei); "
                "Windows/macOS have Microsoft YaHei / PingFang",
                UserWarning,
                stacklevel=3,
            )
        return None
    return [font, "DejaVu Sans"]

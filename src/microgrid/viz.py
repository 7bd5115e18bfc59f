"""Maps of plans and validation reports (matplotlib; folium with the ``viz`` extra).

Imported lazily: ``import microgrid`` never loads matplotlib or folium.
"""

from __future__ import annotations

from pathlib import Path

from .errors import MicrogridError

__all__ = ["plot_report", "explore_report", "save_map"]

_COLORS = {"error": "#d62728", "flagged": "#ff7f0e", "warning": "#9467bd"}


def _optional(name: str, extra: str):
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        raise MicrogridError(f"{name} is needed for this; install it with: pip install microgrid[{extra}]") from None


def plot_report(report, grids, households=None, *, ax=None, title: str | None = None):
    """Static map of a :class:`ValidationReport`: grids, then every violation highlighted.

    Returns the matplotlib Axes.
    """
    _optional("matplotlib", "plot")
    import matplotlib.pyplot as plt

    crs = report.violations.crs
    g = grids.to_crs(crs) if crs is not None and grids.crs is not None else grids
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 9))
    g.plot(ax=ax, facecolor="#e8eef4", edgecolor="#4a6a8a", linewidth=0.6)
    if households is not None and len(households):
        h = households.to_crs(crs) if crs is not None and households.crs is not None else households
        h.plot(ax=ax, markersize=1, color="#777777")
    v = report.violations
    handles = []
    for sev, color in _COLORS.items():
        sub = v[(v["severity"] == sev) & v.geometry.notna() & ~v.geometry.is_empty]
        if len(sub) == 0:
            continue
        polys = sub[sub.geom_type.isin(["Polygon", "MultiPolygon", "GeometryCollection"])]
        if len(polys):
            polys.plot(ax=ax, facecolor=color, edgecolor=color, alpha=0.55, linewidth=1.5)
        other = sub[~sub.index.isin(polys.index)]
        if len(other):
            other.plot(ax=ax, color=color, markersize=25, linewidth=2)
        from matplotlib.patches import Patch

        names = ", ".join(sorted(set(sub["check"])))
        handles.append(Patch(color=color, label=f"{sev}: {names}"))
    if handles:
        ax.legend(handles=handles, loc="lower left", fontsize=8)
    ax.set_title(title or ("valid" if report.ok else f"{int((v['severity'] == 'error').sum())} violations"))
    ax.set_axis_off()
    return ax


def explore_report(report, grids, households=None):
    """Interactive folium map of a report (needs ``pip install microgrid[viz]``)."""
    _optional("folium", "viz")
    g = grids.to_crs(4326)
    m = g.explore(style_kwds={"fillOpacity": 0.15, "weight": 1}, tooltip=list(g.columns.drop("geometry"))[:6],
                  name="grids")
    v = report.violations
    v = v[v.geometry.notna() & ~v.geometry.is_empty]
    if len(v):
        vv = v.to_crs(4326).copy()
        vv["ids"] = vv["ids"].astype(str)
        vv.explore(m=m, column="severity", cmap=[_COLORS.get(s, "red") for s in sorted(set(vv["severity"]))],
                   tooltip=["check", "severity", "ids", "message"], name="violations")
    return m


def save_map(report, grids, path, households=None) -> Path:
    """Write a report map to ``path``: ``.png`` (matplotlib) or ``.html`` (folium)."""
    path = Path(path)
    if path.suffix.lower() == ".html":
        explore_report(report, grids, households).save(str(path))
        return path
    if path.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise MicrogridError(f"map format {path.suffix!r} not supported; use .png, .svg, .pdf or .html")
    _optional("matplotlib", "plot")
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    ax = plot_report(report, grids, households)
    ax.figure.savefig(path, dpi=130, bbox_inches="tight")
    plt.close(ax.figure)
    return path



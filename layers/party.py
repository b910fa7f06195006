"""The party-organisation layers (党建引领, docs/domain.md#party-organisations) and legends.

:func:`build` returns three :class:`~layers.base.LayerSpec` s:

1. ``party_grid_branches`` — every grid, coloured by whether it has a grid
   party branch (网格党支部) whose ``unit_code`` is the grid; the tooltip names
   the branch and its members;
2. ``party_building_groups`` — the residential buildings that have a building
   party group (楼栋党小组), highlighted; the legend's note gives the share of
   residential buildings covered;
3. ``party_central_households`` — party-member central households (党员中心户)
   as points (drawn as circle markers).

Membership follows :mod:`gridmap.party`: a branch belongs to the grid whose
code is its ``unit_code``, a group to the building whose code is its
``unit_code``, and only residential buildings count for group coverage.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from gridmap.i18n import t
from gridmap.party import RESIDENTIAL_USES
from layers.base import LayerSpec, Legend, LegendItem
from layers.palette import GAP, SCHEMES, gap_style

__all__ = ["BRANCH_COLOR", "NO_BRANCH_COLOR", "GROUP_COLOR", "CENTRAL_COLOR", "build"]

#: Party coverage is the purple family (:data:`layers.palette.SCHEMES`), apart from
#: the incidents' reds: a grid with a branch is tinted and outlined in violet, one
#: without is a gap (a dashed dark outline, no fill), so the layers under it show.
BRANCH_COLOR = SCHEMES["party"][3]
NO_BRANCH_COLOR = GAP
GROUP_COLOR = SCHEMES["party"][4]
CENTRAL_COLOR = SCHEMES["party"][0]
_CENTRAL_OUTLINE = "#3f007d"
#: Circle-marker radius of a central household, in screen pixels.
CENTRAL_RADIUS = 5


def _note(text: str | None, lang: str, synthetic: bool) -> str | None:
    parts = [p for p in (text, t("map.synthetic", lang) if synthetic else None) if p]
    return "; ".join(parts) or None


def _share(a: int, b: int) -> str:
    return "—" if b == 0 else f"{a / b:.1%}"


def _wgs84(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """A copy in EPSG:4326 without rows lacking a geometry (nothing to draw)."""
    out = frame.to_crs("EPSG:4326") if frame.crs is not None else frame.copy()
    if out is frame:
        out = out.copy()
    keep = out.geometry.notna().to_numpy() & ~out.geometry.is_empty.to_numpy()
    return out[keep]


def _orgs(party_orgs: pd.DataFrame | None, kind: str) -> pd.DataFrame:
    """The organisations of one kind (an empty frame when there is no layer)."""
    if party_orgs is None or not len(party_orgs) or "kind" not in party_orgs:
        return pd.DataFrame({"unit_code": pd.Series(dtype="str")})
    return party_orgs[(party_orgs["kind"].astype("str") == kind).to_numpy()]


def _members(frame: pd.DataFrame) -> pd.Series:
    if "members" not in frame:
        return pd.Series(0.0, index=frame.index)
    return pd.to_numeric(frame["members"], errors="coerce").fillna(0.0)


def _per_unit(orgs: pd.DataFrame, fallback: str) -> pd.DataFrame:
    """Per ``unit_code``: the organisations' names (joined) and their members (summed)."""
    if not len(orgs):
        return pd.DataFrame(
            {"org_name": pd.Series(dtype="str"), "members": pd.Series(dtype="float")},
            index=pd.Index([], dtype="str", name="unit_code"),
        )
    names = (
        orgs["name"].astype("str").where(orgs["name"].notna(), fallback)
        if "name" in orgs
        else pd.Series(fallback, index=orgs.index)
    )
    frame = pd.DataFrame(
        {
            "unit_code": orgs["unit_code"].astype("str").to_numpy(),
            "org_name": names.astype("str").to_numpy(),
            "members": _members(orgs).to_numpy(dtype=float),
        }
    )
    # A unit may (wrongly, but it happens in real data) have two branches: show both.
    return frame.groupby("unit_code").agg(
        org_name=("org_name", "、".join), members=("members", "sum")
    )


def build(
    grids: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame | None,
    party_orgs: gpd.GeoDataFrame | None,
    *,
    lang: str = "zh",
    synthetic: bool = False,
) -> list[LayerSpec]:
    """The three party-organisation layers.

    Parameters
    ----------
    grids
        Grids: ``code``, ``name`` and the polygon (any CRS).
    buildings
        Buildings: ``code``, ``use`` and the footprint (any CRS); ``None`` or
        empty when the store has none (the group layer is then empty).
    party_orgs
        Party organisations: ``id``, ``kind`` (``grid_branch``,
        ``building_group``, ``central_household``), ``unit_code``, ``name``,
        ``members`` and the point; ``None`` when there are none.
    lang
        ``zh`` (default) or ``en``.
    synthetic
        Say in every legend that the data are synthetic.

    Returns
    -------
    list of LayerSpec
        ``party_grid_branches`` (polygons, ``has_branch``, ``branch``,
        ``members``), ``party_building_groups`` (polygons, ``group``,
        ``members``) and ``party_central_households`` (``kind="point"``,
        styles with a ``radius``), in drawing order.
    """
    branch_label = t("party_kind.grid_branch", lang)
    group_label = t("party_kind.building_group", lang)

    # (a) Grids by grid party branch.
    g = _wgs84(grids)
    branches = _per_unit(_orgs(party_orgs, "grid_branch"), branch_label)
    codes = g["code"].astype("str")
    has = codes.isin(branches.index).to_numpy()
    g["has_branch"] = has
    g["branch"] = branches["org_name"].reindex(codes).to_numpy()
    g["members"] = branches["members"].reindex(codes).fillna(0).astype("int64").to_numpy()
    g["_style"] = [
        {"color": BRANCH_COLOR, "weight": 2.5, "fillColor": BRANCH_COLOR, "fillOpacity": 0.3}
        if h
        else gap_style(2.5)
        for h in has
    ]
    g["_tooltip"] = [
        (f"{n}（{c}）: " if lang == "zh" else f"{n} ({c}): ")
        + (
            t("map.party.branch_tip", lang, branch=b, m=int(m))
            if h
            else t("map.party.no_branch_tip", lang)
        )
        for n, c, h, b, m in zip(
            g["name"].astype("str"), codes, has, g["branch"], g["members"], strict=True
        )
    ]
    n_with = int(has.sum())
    grid_spec = LayerSpec(
        "party_grid_branches",
        t("map.party.branch_title", lang),
        g,
        Legend(
            t("map.party.branch_title", lang),
            (
                LegendItem(t("map.party.with_branch", lang, n=n_with), BRANCH_COLOR),
                LegendItem(
                    t("map.party.without_branch", lang, n=len(g) - n_with),
                    NO_BRANCH_COLOR,
                    kind="gap",
                ),
            ),
            _note(t("map.party.branch_note", lang, p=_share(n_with, len(g))), lang, synthetic),
        ),
        properties=["code", "name", "has_branch", "branch", "members"],
    )

    # (b) Residential buildings with a building party group. Only those are
    # drawn: the grid layer gives the context, and tens of thousands of
    # uncovered footprints would bury the highlight (and bloat the export).
    if buildings is None or not len(buildings):
        bld = gpd.GeoDataFrame(
            {"code": pd.Series(dtype="str"), "use": pd.Series(dtype="str")},
            geometry=gpd.GeoSeries([], crs="EPSG:4326"),
        )
    else:
        bld = _wgs84(buildings)
    residential = (
        bld["use"].astype("str").isin(RESIDENTIAL_USES).to_numpy()
        if "use" in bld
        else np.zeros(len(bld), dtype=bool)
    )
    groups = _per_unit(_orgs(party_orgs, "building_group"), group_label)
    bcodes = bld["code"].astype("str")
    covered = residential & bcodes.isin(groups.index).to_numpy()
    hb = bld[covered].copy()
    hcodes = hb["code"].astype("str")
    hb["group"] = groups["org_name"].reindex(hcodes).to_numpy()
    hb["members"] = groups["members"].reindex(hcodes).fillna(0).astype("int64").to_numpy()
    hb["_style"] = [
        {"color": GROUP_COLOR, "weight": 2, "fillColor": GROUP_COLOR, "fillOpacity": 0.8}
    ] * len(hb)
    hb["_tooltip"] = [
        t("map.party.group_tip", lang, code=c, group=gr, m=int(m))
        for c, gr, m in zip(hcodes, hb["group"], hb["members"], strict=True)
    ]
    n_res = int(residential.sum())
    group_spec = LayerSpec(
        "party_building_groups",
        t("map.party.group_title", lang),
        hb,
        Legend(
            t("map.party.group_title", lang),
            (LegendItem(t("map.party.group_item", lang, n=len(hb)), GROUP_COLOR),),
            _note(
                t("map.party.group_note", lang, a=len(hb), b=n_res, p=_share(len(hb), n_res)),
                lang,
                synthetic,
            ),
        ),
        properties=["code", "group", "members"],
    )

    # (c) Central households as points.
    central = _orgs(party_orgs, "central_household")
    if isinstance(central, gpd.GeoDataFrame) and len(central):
        ch = _wgs84(central)
    else:
        ch = gpd.GeoDataFrame(
            {
                "id": pd.Series(dtype="str"),
                "unit_code": pd.Series(dtype="str"),
                "name": pd.Series(dtype="str"),
            },
            geometry=gpd.GeoSeries([], crs="EPSG:4326"),
        )
    for column in ("id", "name"):
        if column not in ch:
            ch[column] = pd.Series(dtype="str")
    ch["_style"] = [
        {
            "radius": CENTRAL_RADIUS,
            "color": _CENTRAL_OUTLINE,
            "weight": 1,
            "fillColor": CENTRAL_COLOR,
            "fillOpacity": 0.95,
        }
    ] * len(ch)
    ch["_tooltip"] = [
        t("map.party.central_tip", lang, name=n, unit=u)
        for n, u in zip(
            ch["name"].astype("str").where(ch["name"].notna(), ""),
            ch["unit_code"].astype("str"),
            strict=True,
        )
    ]
    central_spec = LayerSpec(
        "party_central_households",
        t("map.party.central_title", lang),
        ch,
        Legend(
            t("map.party.central_title", lang),
            (
                LegendItem(
                    t("map.party.central_item", lang, n=len(ch)), CENTRAL_COLOR, kind="point"
                ),
            ),
            _note(None, lang, synthetic),
        ),
        kind="point",
        properties=["id", "unit_code", "name"],
    )
    return [grid_spec, group_spec, central_spec]

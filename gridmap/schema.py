"""The store's schema: every layer, its columns, types and key.

This is the one description of gridmap's data. Both storage backends create
their tables from it, ``gridmap import`` checks user files against it and the
README documents it. Later features add behaviour, not columns.

Types are logical: ``text`` (codes and ids are always text, never numbers),
``int``, ``float``, ``bool`` and ``datetime`` (always UTC). Geometry is stored
in EPSG:4326.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "CRS",
    "LEVELS",
    "LEVEL_LAYERS",
    "UNIT_MEASURES",
    "LAYERS",
    "Column",
    "Layer",
    "FACILITY_TYPES",
    "PARTY_KINDS",
    "BUILDING_USES",
    "INCIDENT_STEPS",
    "INCIDENT_CATEGORIES",
    "INCIDENT_SOURCES",
    "CLOSING_LEVELS",
    "SATISFACTION",
    "ROAD_KINDS",
    "layer",
]

#: The storage CRS of every layer.
CRS = "EPSG:4326"

#: The five levels of the hierarchy, top down.
LEVELS: tuple[str, ...] = ("district", "subdistrict", "community", "grid", "building")

#: The layer holding each level's units.
LEVEL_LAYERS: dict[str, str] = {
    "district": "districts",
    "subdistrict": "subdistricts",
    "community": "communities",
    "grid": "grids",
    "building": "buildings",
}

#: What a map's units can be coloured by: the store's totals per unit
#: (:meth:`gridmap.store.base.Store.unit_totals`) and the residents per km².
UNIT_MEASURES: tuple[str, ...] = ("households", "population", "density", "buildings", "elderly")

# Identifiers from docs/domain.md#identifiers; the Chinese labels live in gridmap.i18n.
FACILITY_TYPES: tuple[str, ...] = (
    "service_station",
    "clinic",
    "kindergarten",
    "elderly_daycare",
    "primary_school",
    "fresh_market",
    "bus_stop",
    "middle_school",
    "health_centre",
    "subdistrict_centre",
    "police_station",
    "judicial_office",
    "nursing_home",
    "party_service_centre",
)
PARTY_KINDS: tuple[str, ...] = ("grid_branch", "building_group", "central_household")
BUILDING_USES: tuple[str, ...] = ("residential", "commercial", "public", "mixed", "industrial")
INCIDENT_STEPS: tuple[str, ...] = (
    "collected",
    "registered",
    "dispatched",
    "handling",
    "reported_back",
    "closed",
    "evaluated",
    "voided",
)
INCIDENT_CATEGORIES: tuple[str, ...] = (
    "city_appearance",
    "advertising",
    "construction",
    "street_order",
    "emergency",
    "facility",
    "dispute",
    "safety_hazard",
    "resident_request",
    "other",
)
INCIDENT_SOURCES: tuple[str, ...] = (
    "patrol",
    "resident",
    "hotline_12345",
    "camera",
    "higher_level",
)
CLOSING_LEVELS: tuple[str, ...] = ("grid", "community", "subdistrict", "district", "department")
#: 12345-hotline practice: residents answer 满意 / 基本满意 / 不满意.
SATISFACTION: tuple[str, ...] = ("satisfied", "basically_satisfied", "dissatisfied")
ROAD_KINDS: tuple[str, ...] = (
    "primary",
    "secondary",
    "tertiary",
    "residential",
    "service",
    "footway",
    "path",
    "track",
    "steps",
    "pedestrian",
    "living_street",
    "unclassified",
)


@dataclass(frozen=True)
class Column:
    """One attribute column.

    Parameters
    ----------
    name
        Column name, as in files users import and export.
    type
        Logical type: ``text``, ``int``, ``float``, ``bool`` or ``datetime``.
    required
        Whether every row must have a value.
    choices
        The allowed values of a text column, if restricted.
    """

    name: str
    type: str
    required: bool = False
    choices: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Layer:
    """One table of the store.

    Parameters
    ----------
    name
        Table name.
    columns
        Attribute columns, in order.
    geometry
        Geometry type (``MultiPolygon``, ``Point``, ``LineString``) or ``None``
        for a table without geometry.
    key
        The column that identifies a row (unique), if any.
    level
        The hierarchy level the layer holds, if it is a level layer.
    parent
        The column naming the parent unit's code, for level layers below the district.
    """

    name: str
    columns: tuple[Column, ...]
    geometry: str | None
    key: str | None = None
    level: str | None = None
    parent: str | None = None
    indexes: tuple[str, ...] = field(default=())

    @property
    def column_names(self) -> list[str]:
        """Names of the attribute columns, in order."""
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        """The column called ``name``."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


def _t(name: str, required: bool = False, choices: tuple[str, ...] | None = None) -> Column:
    return Column(name, "text", required, choices)


def _i(name: str, required: bool = False) -> Column:
    return Column(name, "int", required)


def _d(name: str, required: bool = False) -> Column:
    return Column(name, "datetime", required)


LAYERS: dict[str, Layer] = {
    lay.name: lay
    for lay in (
        Layer(
            "districts",
            (_t("code", True), _t("name", True)),
            "MultiPolygon",
            key="code",
            level="district",
        ),
        Layer(
            "subdistricts",
            (_t("code", True), _t("name", True), _t("district_code", True)),
            "MultiPolygon",
            key="code",
            level="subdistrict",
            parent="district_code",
        ),
        Layer(
            "communities",
            (_t("code", True), _t("name", True), _t("subdistrict_code", True)),
            "MultiPolygon",
            key="code",
            level="community",
            parent="subdistrict_code",
        ),
        Layer(
            "grids",
            (
                _t("code", True),
                _t("name", True),
                _t("community_code", True),
                _i("households"),
                _i("population"),
            ),
            "MultiPolygon",
            key="code",
            level="grid",
            parent="community_code",
        ),
        Layer(
            "buildings",
            (
                _t("code", True),
                _t("grid_code", True),
                _t("use", True, BUILDING_USES),
                _i("floors"),
                _i("households"),
                _i("population"),
                _i("elderly"),
                _i("children"),
                # Set when households/population were estimated (from footprint
                # and floors), not counted: the figures are then indicative.
                Column("estimated", "bool"),
            ),
            "MultiPolygon",
            key="code",
            level="building",
            parent="grid_code",
        ),
        Layer(
            "facilities",
            (_t("id", True), _t("type", True, FACILITY_TYPES), _t("name")),
            "Point",
            key="id",
            indexes=("type",),
        ),
        Layer(
            "party_orgs",
            (
                _t("id", True),
                _t("kind", True, PARTY_KINDS),
                _t("unit_code", True),
                _t("name"),
                _i("members"),
            ),
            "Point",
            key="id",
            indexes=("unit_code", "kind"),
        ),
        Layer(
            "roads",
            (_t("id", True), _t("kind"), _t("name")),
            "LineString",
            key="id",
        ),
        Layer(
            "incidents",
            (
                _t("id", True),
                _t("category", True, INCIDENT_CATEGORIES),
                _t("subcategory"),
                _t("source", True, INCIDENT_SOURCES),
                _t("description"),
                _t("step", True, INCIDENT_STEPS),
                _t("grid_code"),
                _t("building_code"),
                _t("department"),
                _t("closed_level", False, CLOSING_LEVELS),
                Column("whistled", "bool"),
                _d("deadline"),
                _d("reported_at", True),
                _d("closed_at"),
                _t("satisfaction", False, SATISFACTION),
                _i("rework_count"),
                _i("transfer_count"),
                _i("version"),
                # Beyond the minimum, fixed now so later work adds no
                # columns: when the clock started, and the whistle's own
                # department and response deadline (docs/domain.md#incident-loop).
                _d("dispatched_at"),
                _t("whistle_department"),
                _d("whistle_deadline"),
                _d("updated_at"),
                # Personal data (PIPL): shown unmasked only to the roles that need
                # them (gridmap.privacy); schema version 0002.
                _t("reporter_name"),
                _t("reporter_phone"),
            ),
            "Point",
            key="id",
            indexes=("step", "grid_code", "reported_at", "category"),
        ),
        Layer(
            "incident_events",
            (
                _t("incident_id", True),
                _d("at", True),
                _t("actor"),
                _t("from_step", False, INCIDENT_STEPS),
                _t("to_step", True, INCIDENT_STEPS),
                _t("note"),
            ),
            None,
            indexes=("incident_id",),
        ),
        Layer(
            "metadata",
            (
                _t("layer", True),
                _t("source", True),
                _t("licence", True),
                Column("synthetic", "bool", True),
                _t("note"),
                _d("updated_at"),
            ),
            None,
            key="layer",
        ),
    )
}


def layer(name: str) -> Layer:
    """The layer called ``name``.

    Raises
    ------
    gridmap.errors.UnknownLayerError
        If there is no such layer; the message lists the known ones.
    """
    from gridmap.errors import UnknownLayerError

    try:
        return LAYERS[name]
    except KeyError:
        raise UnknownLayerError(name, sorted(LAYERS)) from None

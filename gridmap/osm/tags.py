"""The tag tables: which OSM tags make a road, a building's use, a facility.

Tables only, no logic: :mod:`gridmap.osm.roads`, :mod:`gridmap.osm.buildings`
and :mod:`gridmap.osm.facilities` apply them, and their module documentation
states the rules in words. The tables must only produce values the schema
allows (checked when this module is imported).
"""

from __future__ import annotations

from dataclasses import dataclass

from gridmap.schema import FACILITY_TYPES, ROAD_KINDS

__all__ = [
    "WALKABLE_HIGHWAYS",
    "SIDEWALK_HIGHWAYS",
    "NOT_WALKABLE_HIGHWAYS",
    "FOOT_YES",
    "FOOT_NO",
    "ACCESS_NO",
    "SIDEWALK_YES",
    "BUILDING_USE_BY_TAG",
    "NOT_BUILDINGS",
    "PUBLIC_AMENITIES",
    "SHOP_AMENITIES",
    "FacilityRule",
    "FACILITY_RULES",
    "PRIMARY_WORDS",
    "MIDDLE_WORDS",
]


def _words(text: str) -> tuple[str, ...]:
    """The words of a text: tag values written as a sentence, to keep tables short."""
    return tuple(text.split())


# -- roads --------------------------------------------------------------------------

#: ``highway`` values people walk along → road ``kind`` (one of ``ROAD_KINDS``).
WALKABLE_HIGHWAYS: dict[str, str] = {
    "footway": "footway",
    "corridor": "footway",  # indoor passages
    "platform": "footway",  # public-transport platforms mapped as ways
    "elevator": "footway",
    "path": "path",
    "cycleway": "path",  # walkable unless foot=no (checked separately)
    "bridleway": "path",
    "trail": "path",
    "pedestrian": "pedestrian",
    "steps": "steps",
    "living_street": "living_street",
    "residential": "residential",
    "service": "service",
    "track": "track",
    "unclassified": "unclassified",
    "road": "unclassified",
    "tertiary": "tertiary",
    "tertiary_link": "tertiary",
    "secondary": "secondary",
    "secondary_link": "secondary",
    "primary": "primary",
    "primary_link": "primary",
}

#: ``highway`` values walkable only with a sidewalk (or an explicit foot=yes) → kind.
SIDEWALK_HIGHWAYS: dict[str, str] = {"trunk": "primary", "trunk_link": "primary"}

#: ``highway`` values never walked along (values in no table are dropped too).
NOT_WALKABLE_HIGHWAYS: frozenset[str] = frozenset(
    _words(
        "motorway motorway_link bus_guideway busway raceway construction proposed planned "
        "abandoned disused razed escape via_ferrata"
    )
)

#: ``foot`` values that let people walk a way, whatever ``access`` says.
FOOT_YES: tuple[str, ...] = ("yes", "designated", "permissive", "official")
#: ``foot`` values that keep people off a way.
FOOT_NO: tuple[str, ...] = ("no", "use_sidepath", "private")
#: ``access`` values that keep people off a way unless ``foot`` says otherwise.
ACCESS_NO: tuple[str, ...] = ("private", "no")
#: ``sidewalk[:both|:left|:right]`` values that mean there is one.
SIDEWALK_YES: tuple[str, ...] = ("both", "left", "right", "yes")

# -- buildings ----------------------------------------------------------------------

#: ``building`` values → building use (``yes`` and other values: see
#: :mod:`gridmap.osm.buildings`).
BUILDING_USE_BY_TAG: dict[str, str] = {
    **dict.fromkeys(
        _words(
            "apartments residential house detached semidetached_house terrace dormitory bungalow "
            "farm"
        ),
        "residential",
    ),
    **dict.fromkeys(_words("retail commercial office supermarket kiosk hotel"), "commercial"),
    **dict.fromkeys(
        _words(
            "school university college hospital kindergarten public civic government church chapel "
            "cathedral mosque temple synagogue religious museum train_station transportation "
            "fire_station sports_hall pavilion"
        ),
        "public",
    ),
    **dict.fromkeys(
        _words(
            "industrial warehouse manufacture factory utility service hangar greenhouse glasshouse"
        ),
        "industrial",
    ),
}

#: ``building`` values of structures nobody lives or works in: skipped.
NOT_BUILDINGS: frozenset[str] = frozenset(
    _words(
        "no roof carport shed hut tent container ruins construction proposed demolished destroyed "
        "entrance underpass_entrance bridge ship"
    )
)

#: Amenities on a ``building=yes`` that make it public.
PUBLIC_AMENITIES: frozenset[str] = frozenset(
    _words(
        "school university college kindergarten hospital clinic townhall courthouse library police "
        "fire_station community_centre social_facility place_of_worship theatre arts_centre "
        "marketplace"
    )
)
#: Amenities that count as a shop (a tall building with one is mixed).
SHOP_AMENITIES: frozenset[str] = frozenset(
    _words("restaurant cafe fast_food bar pub bank pharmacy food_court")
)

# -- facilities ---------------------------------------------------------------------


@dataclass(frozen=True)
class FacilityRule:
    """Tags that make an OSM feature a facility of one type.

    Parameters
    ----------
    type
        The facility type (one of :data:`gridmap.schema.FACILITY_TYPES`).
    tags
        ``(key, allowed values)`` pairs: every pair must match.
    """

    type: str
    tags: tuple[tuple[str, tuple[str, ...]], ...]

    def __str__(self) -> str:
        return " + ".join(f"{k}={'|'.join(v)}" for k, v in self.tags) + f" → {self.type}"


def _rule(type_: str, **tags: str) -> FacilityRule:
    # Keyword names cannot hold ":"; "__" stands for it (social_facility__for).
    return FacilityRule(
        type_, tuple((k.replace("__", ":"), tuple(v.split("|"))) for k, v in tags.items())
    )


#: OSM tags → facility type; the first matching rule decides. ``amenity=school``
#: rows are then given their level by :func:`gridmap.osm.facilities.school_type`.
FACILITY_RULES: tuple[FacilityRule, ...] = (
    _rule("clinic", amenity="clinic|doctors"),
    _rule("clinic", healthcare="clinic|doctor"),
    _rule("health_centre", amenity="hospital"),
    _rule("health_centre", healthcare="hospital"),
    _rule("kindergarten", amenity="kindergarten|childcare"),
    _rule("primary_school", amenity="school"),
    _rule("bus_stop", highway="bus_stop"),
    _rule("bus_stop", public_transport="platform", bus="yes"),
    _rule("fresh_market", amenity="marketplace"),
    _rule("fresh_market", shop="supermarket|greengrocer"),
    _rule(
        "nursing_home",
        amenity="social_facility",
        social_facility="nursing_home|assisted_living",
    ),
    _rule(
        "elderly_daycare",
        amenity="social_facility",
        social_facility="day_care|outreach",
        social_facility__for="senior",
    ),
    _rule("nursing_home", amenity="nursing_home"),
    _rule("police_station", amenity="police"),
    _rule("service_station", amenity="community_centre"),
    _rule("subdistrict_centre", amenity="townhall"),
    _rule("judicial_office", amenity="courthouse"),
    _rule("judicial_office", office="government", government="legal|prosecutor"),
)

#: Words in a school's name (lower case) that make it a primary school; checked first.
PRIMARY_WORDS: tuple[str, ...] = (
    *("小学", "primary", "elementary"),
    *("ala-aste", "alakoulu", "grundskola"),
)
#: Words in a school's name (lower case) that make it a middle school.
MIDDLE_WORDS: tuple[str, ...] = (
    *("初中", "中学", "secondary", "middle", "junior high", "high school"),
    *("yläaste", "yläkoulu", "lukio", "gymnasium"),
)

# The tables must only produce values the schema allows.
assert set(WALKABLE_HIGHWAYS.values()) | set(SIDEWALK_HIGHWAYS.values()) <= set(ROAD_KINDS)
assert {r.type for r in FACILITY_RULES} | {"middle_school"} <= set(FACILITY_TYPES)

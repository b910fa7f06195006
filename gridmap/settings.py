"""Settings from the environment: the one place gridmap reads ``os.environ``.

Every setting is ``GRIDMAP_<NAME>`` in the environment (or a ``.env`` file in
the working directory); see ``.env.example``.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings"]


class Settings(BaseSettings):
    """gridmap's settings."""

    model_config = SettingsConfigDict(env_prefix="GRIDMAP_", env_file=".env", extra="ignore")

    #: The store of commands given none: a postgresql:// URL (or a .gpkg path).
    database_url: str | None = None
    #: Language of reports and UI text: zh (default) or en.
    lang: str = Field("zh", pattern="^(zh|en)$")
    #: Seconds a writer waits for another writer's lock on a GeoPackage.
    lock_timeout: float = Field(30.0, ge=0)
    #: Tolerance, in metres, of "a unit lies inside its parent".
    containment_tolerance_m: float = Field(1.0, ge=0)
    #: Gaps and overlaps between sibling grids smaller than this (m²) are
    #: rounding noise, not errors.
    sliver_area_m2: float = Field(1.0, ge=0)
    #: Where `gridmap demo` writes unless --out is given.
    demo_path: Path = Path("gridmap-demo.gpkg")
    #: The dashboard's basemap: none (offline, drawn from the store), tianditu,
    #: amap (the layers are shifted to GCJ-02 on screen) or osm.
    basemap: str = Field("none", pattern="^(none|tianditu|amap|osm)$")
    #: The Tianditu API key (tk) the tianditu basemap needs.
    tianditu_key: str | None = None
    #: Seconds between the dashboard's checks for new data (wall displays run
    #: unattended); 0 turns the automatic refresh off.
    refresh_seconds: int = Field(60, ge=0)
    #: The dashboard's session secret (signs its cookies). Unset: one is made
    #: and kept in the store, so a restart does not sign everyone out.
    secret_key: str | None = None
    #: Minutes without a user action after which a dashboard session ends (the
    #: automatic refresh is no action; wall displays are exempt).
    session_idle_minutes: int = Field(30, ge=1)
    #: Mark the session cookie Secure (sent over HTTPS only): set it when the
    #: dashboard is served behind HTTPS.
    secure_cookies: bool = False
    #: Failed sign-ins allowed per client address (Flask-Limiter's notation).
    login_rate_limit: str = "20 per 15 minutes"
    #: Seconds between a wall display's requests for what changed (each cheap:
    #: the server checks the store once a second for all walls).
    wall_poll_seconds: float = Field(1.0, gt=0, le=60)
    #: The instant a wall's clock starts at, then runs on from (ISO 8601): to
    #: rehearse a midnight or an overdue case; unset, the real time.
    wall_clock: datetime | None = None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once.

    Raises
    ------
    GridmapError
        When a ``GRIDMAP_*`` variable holds a value gridmap cannot use: the
        message names the variable and what it accepts.
    """
    from pydantic import ValidationError

    from gridmap.errors import GridmapError

    try:
        return Settings()
    except ValidationError as error:
        first = error.errors()[0]
        name = "GRIDMAP_" + str(first["loc"][0]).upper() if first["loc"] else "a GRIDMAP_ setting"
        raise GridmapError(
            f"{name}={first.get('input')!r} is not usable: {first['msg']}",
            "fix or unset it (see .env.example)",
        ) from None

"""The ``gridmap`` command: thin wiring from the shell to the core and the store.

Every command takes the store's address (a ``.gpkg`` path) as its first
argument; ``gridmap demo`` takes it as ``--out``. Errors a user can fix are
printed on one line (``gridmap: error: …``) with exit status 2; ``validate``
exits with 1 when the store has errors.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from pathlib import Path

import click

from gridmap.accounts import ROLES
from gridmap.audit import ACTIONS
from gridmap.errors import GridmapError, InputError, render_options
from gridmap.extras import missing_extra, require
from gridmap.i18n import label, t
from gridmap.schema import FACILITY_TYPES, UNIT_MEASURES

__all__ = ["main", "cli"]


def _store_address(store: str | None) -> str:
    """STORE as given, or GRIDMAP_DATABASE_URL when it is left out."""
    if store:
        return store
    from gridmap.settings import get_settings

    default = get_settings().database_url
    if not default:
        raise click.UsageError(
            "give the STORE (a .gpkg file or postgresql:// URL), or set GRIDMAP_DATABASE_URL"
        )
    return default


def _lang(ctx: click.Context | None = None) -> str:
    """The language of reports (``--lang``, else GRIDMAP_LANG), for the running command."""
    return (ctx or click.get_current_context()).find_root().obj["lang"]


def _say(key: str, lang: str, **values: object) -> None:
    """Print the catalogue's text ``key`` in ``lang``, filled with ``values``."""
    click.echo(t(key, lang).format(**values))


def _shown(group: str, identifier: str, lang: str) -> str:
    """How output names a layer, step or facility type: its label in Chinese.

    English output keeps the identifier a user types (``grids``, ``dispatched``,
    ``clinic``), as it always has.
    """
    return identifier if lang == "en" else label(group, identifier, lang)


_ACTOR_HELP = (
    "The account that acts (its role is checked and the audit log names it) [default: the "
    "local admin, recorded under the OS user's name]."
)


def _actor_option(func):
    return click.option("--actor", default=None, metavar="USER", help=_ACTOR_HELP)(func)


def _read_password(prompt_stdin: bool) -> str | None:
    """One line of standard input, its newline stripped (``--password-stdin``), or None."""
    if not prompt_stdin:
        return None
    line = sys.stdin.readline()
    if line.endswith("\n"):
        line = line[:-1]
    if line.endswith("\r"):
        line = line[:-1]
    if not line:
        raise InputError(
            "--password-stdin read no password", field="--password-stdin", hint="pipe one line"
        )
    return line


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--lang",
    type=click.Choice(["zh", "en"]),
    default=None,
    help="Language of reports: zh (default, or GRIDMAP_LANG) or en.",
)
@click.version_option(package_name="gridmap")
@click.pass_context
def cli(ctx: click.Context, lang: str | None) -> None:
    """gridmap — grid management for grassroots governance (基层治理网格化管理).

    Keeps a district's five-level hierarchy (district → subdistrict → community →
    grid → building) with its buildings, facilities, party organisations and
    incidents, checks it and analyses it. Start with `gridmap demo`.
    """
    from gridmap.settings import get_settings

    ctx.ensure_object(dict)
    ctx.obj["lang"] = lang or get_settings().lang


# -- demo -------------------------------------------------------------------


@cli.command()
@click.option(
    "--district",
    default="431002",
    show_default=True,
    help="The district: 北湖区 (431002), 润州区 (321111) or 太仓市 (320585), by name or adcode.",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Random seed (same seed, same data)."
)
@click.option(
    "--out",
    default=None,
    help="The store to write: a .gpkg file [default: GRIDMAP_DEMO_PATH or gridmap-demo.gpkg], "
    "replaced whole once the new one is complete, or a postgresql:// URL, whose tables are "
    "replaced in one transaction.",
)
@click.option(
    "--no-serve", is_flag=True, help="Only build the demo store; do not start the dashboard."
)
@click.option(
    "--if-empty",
    is_flag=True,
    help="Do nothing if the store already holds a district (for container start-up).",
)
@click.option(
    "--as-of",
    "as_of",
    default=None,
    metavar="T",
    help="When the year of incidents ends (the data's now): an ISO 8601 instant, e.g. "
    "2026-06-01T08:00+08:00; without an offset it is Beijing time (Asia/Shanghai) "
    "[default: the moment of the build]. The same --seed and --as-of build the same store.",
)
@click.option(
    "--live",
    is_flag=True,
    help="Keep the demo moving while it is served: synthetic cases (labelled 【合成】) are "
    "reported and moved every --every seconds, as `gridmap simulate` does.",
)
@click.option(
    "--every",
    default=None,
    metavar="SECONDS",
    help="With --live: seconds between two synthetic actions  [default: 5].",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.pass_context
def demo(
    ctx: click.Context,
    district: str,
    seed: int,
    out: str | None,
    no_serve: bool,
    if_empty: bool,
    as_of: str | None,
    live: bool,
    every: str | None,
    quiet: bool,
) -> None:
    """Build the demo district store (real boundary and names, synthetic detail).

    The district boundary and the subdistrict and community names and codes are
    real; everything below (unit polygons, grids, buildings, streets,
    facilities, party organisations, a year of incidents up to --as-of) is
    SYNTHETIC and labelled so in the store's metadata. With --live the dashboard
    is served with synthetic cases coming in and moving on.
    """
    from gridmap.demo import resolve_district
    from gridmap.services.demo import check_out, holds_district, write_demo
    from gridmap.settings import get_settings
    from gridmap.simulate import DEFAULT_EVERY, check_every

    if live and no_serve:
        raise InputError("--live serves the demo", hint="leave out --no-serve, or --live")
    if every is not None and not live:
        raise InputError("--every is the pace of --live", hint="give --live too, or leave it out")
    seconds = check_every(DEFAULT_EVERY if every is None else every) if live else None
    end = _when(as_of, "--as-of")
    if not no_serve:  # before the build, not after it
        require("app", "the dashboard (leave it out with --no-serve)")
    code = resolve_district(district)
    out = out or str(get_settings().demo_path)
    database = check_out(out)
    lang = _lang(ctx)
    if if_empty and holds_district(out):
        _say("cli.demo.kept", lang, store=_masked(out))
        if live:  # a kept store goes live as it is
            _serve_live(out, seconds, lang)
        return
    # A failure leaves an earlier store as it was (a file is written beside --out
    # and moved onto it once complete; a database is replaced in one transaction).
    report = write_demo(out, code, seed=seed, as_of=end, progress=not quiet)
    location = _masked(out) if database else str(Path(out).resolve())
    _say("cli.demo.store", lang, location=location)
    _say("cli.demo.built", lang, code=code, name=report.name, seed=seed, seconds=report.seconds)
    beijing = report.as_of.tz_convert("Asia/Shanghai")
    _say(
        "cli.demo.as_of",
        lang,
        local=beijing.strftime("%Y-%m-%d %H:%M:%S"),
        iso=beijing.isoformat(),
        seed=seed,
    )
    sep = "，" if lang == "zh" else ", "
    counts = report.counts.items()
    click.echo("  " + sep.join(f"{_shown('layer', k, lang)} {v:,}" for k, v in counts))
    click.echo("  " + t("cli.demo.residents", lang).format(n=report.residents))
    _say("cli.demo.accounts", lang)
    for acc in report.accounts:
        if "token" in acc:
            click.echo("  " + t("cli.demo.wall", lang).format(token=acc["token"]))
            continue
        scope = ",".join(acc["scope"]) or t("cli.users.everywhere", lang)
        dept = f" {acc['department']}" if acc["department"] else ""
        click.echo(
            f"  {_ljust(acc['name'], 11)} {acc['password']}  "
            f"{label('role', acc['role'], lang)} [{scope}]{dept}"
        )
    if live:
        _serve_live(out, seconds, lang)
    elif not no_serve:
        _serve(out, host="127.0.0.1", port=8050, lang=lang, production=False)


def _serve_live(out: str, every: float, lang: str) -> None:
    """Serve the demo with the simulator writing into it from a background thread.

    The thread stops when the server does (Ctrl+C); what it did is printed then.
    """
    from gridmap.services.simulate import Simulation

    sim = Simulation(out, every=every)
    sim.start()
    _say("cli.demo.live", lang, every=f"{every:g}")
    try:
        _serve(out, host="127.0.0.1", port=8050, lang=lang, production=False)
    finally:
        report = sim.stop(timeout=every + 10)
        _say_summary(report, lang)


# -- serve ------------------------------------------------------------------


@cli.command()
@click.argument("store", required=False)
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8050, show_default=True)
@click.option(
    "--production",
    is_flag=True,
    help="Serve with waitress (a production WSGI server) instead of Dash's development server.",
)
@click.option(
    "--basemap",
    type=click.Choice(["none", "tianditu", "amap", "osm"]),
    default=None,
    help="Tiles under the layers [default: GRIDMAP_BASEMAP, else none: the offline basemap "
    "drawn from the store]. tianditu needs GRIDMAP_TIANDITU_KEY; amap shifts the layers "
    "to GCJ-02 on screen.",
)
@click.pass_context
def serve(
    ctx: click.Context,
    store: str | None,
    host: str,
    port: int,
    production: bool,
    basemap: str | None,
) -> None:
    """Serve the dashboard of STORE: drill-down map, figures, layers (Ctrl+C stops it).

    STORE is a .gpkg file or a postgresql:// URL (default: GRIDMAP_DATABASE_URL).
    Open http://HOST:PORT/ ; ?unit=CODE opens a unit, ?lang=en shows English.
    An open page picks up new data every GRIDMAP_REFRESH_SECONDS (60).
    """
    _serve(
        _store_address(store),
        host=host,
        port=port,
        lang=_lang(ctx),
        production=production,
        basemap=basemap,
    )


def _serve(
    store: str, *, host: str, port: int, lang: str, production: bool, basemap: str | None = None
) -> None:
    """Start the dashboard (``gridmap serve`` and ``gridmap demo`` share it)."""
    require("app", "the dashboard")
    from gridmap.app import run
    from gridmap.app.tiles import basemap as pick_basemap
    from gridmap.settings import get_settings

    settings = get_settings()
    chosen = pick_basemap(basemap or settings.basemap, settings.tianditu_key)
    shown = _masked(store) if "://" in store else store
    _say("cli.serve.url", lang, store=shown, host=host, port=port)
    if not chosen.offline:
        _say("cli.serve.basemap", lang, name=chosen.name)
    run(store, host=host, port=port, lang=lang, production=production, basemap=chosen)


def _masked(url: str) -> str:
    from gridmap.store.postgis import safe_url

    return safe_url(url)


# -- simulate ---------------------------------------------------------------


@cli.command()
@click.argument("store", required=False)
@click.option(
    "--every",
    default="5",
    show_default=True,
    metavar="SECONDS",
    help="Seconds between two actions (above zero).",
)
@click.option(
    "--count",
    default=None,
    metavar="N",
    help="Stop after N actions written (for tests and scripts) [default: until Ctrl+C].",
)
@click.option("--seed", type=int, default=None, help="Random seed [default: a new one each run].")
@click.option(
    "--quiet", "-q", is_flag=True, help="No line per action; only the summary at the end."
)
@click.pass_context
def simulate(
    ctx: click.Context,
    store: str | None,
    every: str,
    count: str | None,
    seed: int | None,
    quiet: bool,
) -> None:
    """Keep reporting and moving SYNTHETIC cases in STORE, one every few seconds (Ctrl+C stops).

    Each action reports a new case at a building of a grid (its description begins
    with 【合成】, synthetic) or moves an open case one step along the closed loop:
    register, dispatch to a department with its deadline, accept, report back,
    close or send back for rework, now and then a transfer, a whistle or an
    emergency. Every write is audited (user `simulate`) and goes through the store
    as any other; one that fails (the case moved meanwhile) is skipped with a
    warning. STORE is a .gpkg file or a postgresql:// URL (default:
    GRIDMAP_DATABASE_URL) whose incidents are synthetic (a demo) or empty.
    """
    import signal
    import threading

    from gridmap.services.simulate import Simulation

    address = _store_address(store)
    lang = _lang(ctx)

    def said(action) -> None:
        if quiet:
            return
        row = action.incident
        category = _shown("category", str(row["category"]), lang)
        if action.new:
            # Only what the simulator made up: no reporter, and never a demo case's text.
            _say(
                "cli.simulate.reported",
                lang,
                id=action.incident_id,
                category=category,
                grid=row["grid_code"],
                description=row["description"],
            )
            return
        sep = "，" if lang == "zh" else ", "
        moves = sep.join(
            f"{_shown('step', e['from_step'], lang)} → {_shown('step', e['to_step'], lang)}"
            for e in action.events
        )
        move = _shown("move", action.move, lang)
        _say("cli.simulate.moved", lang, id=action.incident_id, move=move, moves=moves)

    def skipped(error: GridmapError) -> None:
        click.echo(t("cli.simulate.skipped", lang).format(reason=error.render(_flags())), err=True)

    def ready() -> None:
        shown = _masked(address) if "://" in address else address
        _say("cli.simulate.start", lang, store=shown, every=f"{sim.every:g}")

    sim = Simulation(
        address,
        every=every,
        count=count,
        seed=seed,
        on_ready=ready,
        on_action=said,
        on_skip=skipped,
    )
    # Ctrl+C ends the run after the action under way, so the summary counts what
    # was written; a second Ctrl+C interrupts at once.
    previous = None
    if threading.current_thread() is threading.main_thread():

        def interrupted(signum, frame) -> None:
            sim.stop()
            signal.signal(signal.SIGINT, signal.default_int_handler)

        previous = signal.signal(signal.SIGINT, interrupted)
    try:
        report = sim.run()
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    _say_summary(report, lang)


def _say_summary(report, lang: str) -> None:
    """The simulator's one-line account: new cases, moves, skipped writes."""
    key = "cli.simulate.summary_skipped" if report.skipped else "cli.simulate.summary"
    _say(key, lang, reported=report.reported, moved=report.moved, skipped=report.skipped)


# -- validate ---------------------------------------------------------------


@cli.command()
@click.argument("store", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def validate(ctx: click.Context, store: str, as_json: bool) -> None:
    """Check codes, hierarchy, containment, grid tiling and geometries of STORE.

    Exit status 0 when there is no error (warnings allowed), 1 when there are errors.
    """
    store = _store_address(store)
    from gridmap.settings import get_settings
    from gridmap.store import open_store
    from gridmap.validate import validate as run_validate

    settings = get_settings()
    with open_store(store) as st:
        layers = st.read_all()
    report = run_validate(
        layers,
        containment_tolerance_m=settings.containment_tolerance_m,
        sliver_area_m2=settings.sliver_area_m2,
    )
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(report.to_text(lang=_lang(ctx)))
    ctx.exit(0 if report.ok else 1)


# -- import / export --------------------------------------------------------


def _parse_map(pairs: tuple[str, ...]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        src, sep, dst = pair.partition("=")
        if not sep or not src or not dst:
            raise click.BadParameter(f"'{pair}' is not SRC=DST", param_hint="--map")
        mapping[src] = dst
    return mapping


@cli.command("import")
@click.argument("store")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--layer", "layer_name", required=True, help="The store layer to import into (e.g. grids)."
)
@click.option("--crs", default=None, help="The file's CRS when it declares none (e.g. EPSG:4326).")
@click.option(
    "--offset",
    type=click.Choice(["gcj02", "bd09"]),
    default=None,
    help="The coordinates come from AMap/Tencent (gcj02) or Baidu (bd09): "
    "shift them back to WGS 84.",
)
@click.option(
    "--map",
    "maps",
    multiple=True,
    metavar="SRC=DST",
    help="Rename a file column to a schema column.",
)
@click.option(
    "--repair", is_flag=True, help="Repair invalid polygons (make_valid) and report each repair."
)
@click.option("--replace", is_flag=True, help="Replace the layer's rows instead of adding to them.")
@click.option(
    "--source-layer", default=None, help="The layer inside a multi-layer file (GeoPackage)."
)
@click.option(
    "--licence",
    default="unknown",
    show_default=True,
    help="Licence of the data, kept in the store's metadata.",
)
@click.option(
    "--synthetic", is_flag=True, help="Mark the imported data as synthetic in the metadata."
)
@_actor_option
def import_(
    store: str,
    file: Path,
    layer_name: str,
    crs: str | None,
    offset: str | None,
    maps: tuple[str, ...],
    repair: bool,
    replace: bool,
    source_layer: str | None,
    licence: str,
    synthetic: bool,
    actor: str | None,
) -> None:
    """Import FILE (GeoPackage, GeoJSON, Shapefile or .zip, CSV) into a layer of STORE.

    The file is checked whole first and goes in whole or not at all. A STORE
    that does not exist yet is created (and removed again if the import fails).
    """
    from gridmap.io import read_layer_file
    from gridmap.schema import layer as schema_layer
    from gridmap.services.accounts import cli_actor, require_role
    from gridmap.store import open_store

    lay = schema_layer(layer_name)
    created = not Path(store).exists() and "://" not in store
    try:
        with open_store(store, create=True) as st:
            who = cli_actor(st, actor)
            require_role(who, (), "import layers")
            district = None
            if lay.geometry is not None and layer_name != "districts":
                districts = st.read("districts")
                if len(districts):
                    district = districts.geometry.union_all()
            existing = set() if replace else st.keys(layer_name)
            frame, notes = read_layer_file(
                file,
                layer_name,
                crs=crs,
                offset=offset,
                mapping=_parse_map(maps),
                repair=repair,
                district=district,
                existing_keys=existing,
                source_layer=source_layer,
            )
            meta = {
                "layer": layer_name,
                "source": f"imported from {file.name}",
                "licence": licence,
                "synthetic": synthetic,
                "note": "; ".join(notes)[:1000] or None,
            }
            entry = who.entry(
                "import",
                layer_name,
                file=file.name,
                rows=len(frame),
                mode="replace" if replace else "append",
            )
            st.write(
                {layer_name: frame},
                mode="replace" if replace else "append",
                metadata=[meta],
                audit=entry,
            )
    except BaseException:
        if created and Path(store).exists():
            Path(store).unlink()
        raise
    for note in notes:
        click.echo(f"note: {note}", err=True)
    lang = _lang()
    shown = _shown("layer", layer_name, lang)
    _say("cli.import.done", lang, n=len(frame), layer=shown, store=store)


@cli.command()
@click.argument("store", required=False)
@click.option("--layer", "layer_name", default=None, help="The layer to export (with --out).")
@click.option(
    "--out",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The file to write: .gpkg, .geojson or .csv (UTF-8 with BOM, codes as text).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["gpkg", "geojson", "csv"]),
    default=None,
    help="The format, when the file name's ending does not say it.",
)
@click.option(
    "--html",
    "html_out",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a map as one self-contained HTML page that works offline (no tiles, no CDN).",
)
@click.option(
    "--unit",
    default=None,
    metavar="CODE",
    help="With --html: map this unit (any level) and what lies under it [default: the district].",
)
@click.option(
    "--layers",
    "layer_groups",
    default="units,party,circles,heatmap",
    show_default=True,
    metavar="LIST",
    help="With --html: comma-separated layers: units (the units below the unit, coloured "
    "by --measure), party, circles (service circles of --type, needs roads), heatmap "
    "(incident density). The older names grids, service_circles, incidents work too.",
)
@click.option(
    "--measure",
    type=click.Choice(UNIT_MEASURES),
    default="households",
    show_default=True,
    help="With --html: what the units are coloured by (classes over the whole level, "
    "as on the dashboard).",
)
@click.option(
    "--type",
    "facility_type",
    type=click.Choice(FACILITY_TYPES),
    default="clinic",
    show_default=True,
    help="With --html: the facility type of the service circles.",
)
@click.option(
    "--minutes",
    type=click.FloatRange(min=0, min_open=True, max=120),
    default=5.0,
    show_default=True,
    help="With --html: the service circles' walk, in minutes at 60 m/min.",
)
@click.option(
    "--months",
    default=None,
    metavar="FIRST:LAST",
    help="With --html: the heatmap's months, e.g. 2025-01:2025-06 (Beijing time) [default: all].",
)
@click.option(
    "--categories",
    default=None,
    metavar="LIST",
    help="With --html: the heatmap's incident categories, comma-separated [default: all].",
)
@_actor_option
@click.pass_context
def export(
    ctx: click.Context,
    store: str,
    layer_name: str | None,
    out: Path | None,
    fmt: str | None,
    html_out: Path | None,
    unit: str | None,
    layer_groups: str,
    measure: str,
    facility_type: str,
    minutes: float,
    months: str | None,
    categories: str | None,
    actor: str | None,
) -> None:
    """Export a layer of STORE to a file QGIS and GDAL open, or a map to an HTML page.

    `--layer NAME --out FILE` writes a layer's rows; `--html FILE` writes a map of
    the district (or of `--unit CODE`) with the chosen `--layers`, in the language
    of `--lang`: the same layers, colours and legends as the dashboard shows for
    the same unit and options. Both may be given at once. Reporters' names and phone
    numbers (and numbers in descriptions) are masked unless the --actor's role needs
    them, and a scoped --actor gets the rows of its area only; every export is
    recorded in the audit log.
    """
    store = _store_address(store)
    from gridmap.services.accounts import cli_actor, read_for
    from gridmap.store import open_store

    if html_out is None and (layer_name is None or out is None):
        raise click.UsageError("give --layer NAME and --out FILE, or --html FILE (or both)")
    if (layer_name is None) != (out is None):
        raise click.UsageError("--layer and --out go together")
    with open_store(store) as st:
        who = cli_actor(st, actor)
    if layer_name is not None and out is not None:
        from gridmap.accounts import PII_ROLES
        from gridmap.io import write_layer_file
        from gridmap.privacy import PII_FIELDS
        from gridmap.schema import layer as schema_layer

        with open_store(store) as st:
            frame = read_for(st, who, layer_name)
            path = write_layer_file(frame, out, layer=layer_name, fmt=fmt)
            has_pii = any(c in schema_layer(layer_name).column_names for c in PII_FIELDS)
            st.audit(
                who.entry(
                    "export",
                    layer_name,
                    file=Path(path).name,
                    rows=len(frame),
                    masked=has_pii and who.account.role not in PII_ROLES,
                    scope=list(who.account.scope),
                )
            )
        lang = _lang(ctx)
        shown = _shown("layer", layer_name, lang)
        _say("cli.export.done", lang, n=len(frame), layer=shown, path=path)
    if html_out is not None:
        from layers.folium_map import GROUP_ALIASES, LAYER_GROUPS, store_map, write_html
        from layers.unit_map import MapOptions

        groups = [g.strip() for g in layer_groups.split(",") if g.strip()]
        unknown = [g for g in groups if GROUP_ALIASES.get(g, g) not in LAYER_GROUPS]
        if unknown or not groups:
            raise InputError(
                f"unknown layer(s) {', '.join(unknown) or '(none)'}",
                field="--layers",
                hint=f"choose from {','.join(LAYER_GROUPS)}",
            )
        if not html_out.parent.exists():
            raise InputError(f"the folder of --html {html_out} does not exist", hint="create it")
        options = MapOptions(
            measure=measure,
            facility_type=facility_type,
            minutes=minutes,
            months=_months(months),
            categories=_categories(categories),
            lang=_lang(ctx),
        )
        t0 = time.perf_counter()
        drawn = store_map(store, unit=unit, groups=groups, options=options)
        for note in drawn.notes:
            click.echo(f"note: {note}", err=True)
        write_html(
            drawn.specs,
            html_out,
            title=drawn.title,
            lang=_lang(ctx),
            hidden=drawn.hidden,
            groups=drawn.groups,
        )
        size = html_out.stat().st_size
        with open_store(store) as st:
            st.audit(who.entry("export", unit or "", file=html_out.name, layers=groups))
        _say(
            "cli.export.html",
            _lang(ctx),
            n=len(drawn.specs),
            mb=size / 1e6,
            path=html_out,
            seconds=time.perf_counter() - t0,
        )


def _months(text: str | None) -> tuple[str, str] | None:
    """``--months FIRST:LAST`` (``YYYY-MM`` each; one month alone is both)."""
    if not text:
        return None
    import re

    parts = text.split(":")
    if len(parts) > 2 or not all(re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", p) for p in parts):
        raise InputError(
            f"--months {text!r} is not FIRST:LAST", field="--months", hint="e.g. 2025-01:2025-06"
        )
    return parts[0], parts[-1]


def _categories(text: str | None) -> tuple[str, ...]:
    """``--categories a,b`` checked against the incident categories."""
    from gridmap.schema import INCIDENT_CATEGORIES

    chosen = tuple(c.strip() for c in (text or "").split(",") if c.strip())
    unknown = [c for c in chosen if c not in INCIDENT_CATEGORIES]
    if unknown:
        raise InputError(
            f"unknown incident categor{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)}",
            field="--categories",
            hint=f"choose from {','.join(INCIDENT_CATEGORIES)}",
        )
    return chosen


# -- import-osm -------------------------------------------------------------


@cli.command("import-osm")
@click.argument("store")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--grid-size",
    type=click.FloatRange(min=50, max=10000),
    default=None,
    help="Side of the generated square grids, in metres  [default: 500].",
)
@click.option(
    "--district-code",
    default=None,
    help="Code of the generated district  [default: 990101, outside the real adcodes].",
)
@click.option(
    "--name", default=None, help="Name of the generated district  [default: FILE's stem]."
)
@click.option(
    "--replace",
    is_flag=True,
    help="Replace the roads, buildings and facilities of STORE (its hierarchy is kept).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@_actor_option
def import_osm(
    store: str,
    file: Path,
    grid_size: float | None,
    district_code: str | None,
    name: str | None,
    replace: bool,
    quiet: bool,
    actor: str | None,
) -> None:
    """Import an OpenStreetMap extract (FILE.osm.pbf): walkable roads, buildings, facilities.

    Walkable ways become roads split at junctions; buildings get a use, floors and
    ESTIMATED households and residents; POIs become facilities. A STORE without a
    district gets a SYNTHETIC district, subdistrict, communities and square grids
    over the extract; a STORE with one keeps it and its grids hold the buildings.
    Everything is written in one transaction. The mapping tables and estimate
    factors are documented in gridmap.osm.
    """
    from tqdm import tqdm

    from gridmap.services.osm import STAGES
    from gridmap.services.osm import import_osm as run_import

    # Only on a terminal (disable=None), and cleared when done: an error stays one line.
    with tqdm(
        total=len(STAGES),
        desc="import-osm",
        unit="stage",
        disable=True if quiet else None,
        leave=False,
        file=sys.stderr,
    ) as bar:

        def advance(stage: str) -> None:
            bar.set_postfix_str(f"done: {stage}")
            bar.update(1)

        from gridmap.services.accounts import cli_actor, local_actor, require_role
        from gridmap.store import open_store

        if actor is None:
            who = local_actor()  # the store may not exist yet
        else:
            with open_store(store) as st:
                who = cli_actor(st, actor)
        require_role(who, (), "import layers")
        report = run_import(
            store,
            file,
            audit=who.entry("import", "osm", file=file.name, replace=replace),
            replace=replace,
            name=name,
            district_code=district_code,
            grid_size=grid_size,
            progress=advance,
        )
    click.echo(report.to_text(_flags()))


# -- coverage ---------------------------------------------------------------


@cli.command()
@click.argument("store", required=False)
@click.option("--type", "ftype", required=True, help="The facility type (e.g. clinic).")
@click.option(
    "--meters",
    type=float,
    default=None,
    help="Walking distance that covers [default: the type's standard].",
)
@click.option("--minutes", type=float, default=None, help="Walking time instead of a distance.")
@click.option(
    "--speed",
    default=None,
    help="Walking speed for --minutes: metres per minute, or standard (60) / age_friendly (45).",
)
@click.option(
    "--level",
    type=click.Choice(["district", "subdistrict", "community", "grid"]),
    default="subdistrict",
    show_default=True,
    help="The units of the printed summary.",
)
@click.option("--suggest", type=int, default=None, metavar="K", help="Suggest K new sites instead.")
@click.option(
    "--circles",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the service circles (the streets reached, buffered 10 m; one per "
    "facility and one merged) to a .gpkg file.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write per-building coverage (or the suggested sites) to a .csv or .gpkg file.",
)
def coverage(
    store: str | None,
    ftype: str,
    meters: float | None,
    minutes: float | None,
    speed: str | None,
    level: str,
    suggest: int | None,
    circles: Path | None,
    out: Path | None,
) -> None:
    """Who can walk to a facility type within the standard distance (15-minute life circle).

    Distances are walked along the store's roads: from each building's centroid to
    the nearest street, along the streets, to the facility. Prints per-unit
    coverage counted in the people the type serves (elderly for elderly care,
    children for kindergartens, everyone for the rest), households and
    buildings; --out writes every building's distance to the nearest facility.
    """
    from gridmap import coverage as cov
    from gridmap.store import open_store

    store = _store_address(store)
    speed_value: float | str | None = speed
    if speed is not None:
        try:
            speed_value = float(speed)
        except ValueError:
            speed_value = speed
    limit = cov.meters_for(ftype, meters=meters, minutes=minutes, speed=speed_value)
    if suggest is not None and suggest < 1:
        raise InputError(f"--suggest {suggest}: ask for at least one site", hint="e.g. --suggest 5")
    t0 = time.perf_counter()
    with open_store(store) as st:
        roads = st.read("roads")
        buildings = st.read("buildings")
        facilities = st.read("facilities")
    model = cov.CoverageModel(
        _network_of(roads, store), buildings, ftype, meters=limit, facilities=facilities
    )
    lang = _lang()
    shown_type = _shown("facility", ftype, lang)
    if minutes is None:
        reach = t("cli.coverage.reach", lang).format(meters=limit)
    else:
        reach = t("cli.coverage.reach_minutes", lang).format(meters=limit, minutes=minutes)
    if suggest is not None:
        sites = cov.suggest_sites(model, suggest)
        _say("cli.coverage.suggested", lang, type=shown_type, n=len(sites), reach=reach)
        columns = ["rank", "gain", "households_gain", "pct_covered_after", "x", "y", "road_id"]
        click.echo(_table(sites[columns], lang))
        if out is not None:
            _write_table(sites, out)
            _say("cli.coverage.wrote_sites", lang, n=len(sites), path=out)
        return
    per_building = model.coverage
    summary = model.summary()
    units = cov.unit_coverage(per_building, buildings, level)
    net = model.network.summary()
    largest = net["component_sizes"][0] / net["nodes"] if net["nodes"] else 0.0
    _say(
        "cli.coverage.network",
        lang,
        nodes=net["nodes"],
        segments=net["segments"],
        km=net["length_m"] / 1000,
        components=net["components"],
        largest=largest,
    )
    _say(
        "cli.coverage.judged",
        lang,
        type=shown_type,
        facilities=summary["facilities"],
        reach=reach,
        seconds=time.perf_counter() - t0,
    )
    _say(
        "cli.coverage.covered",
        lang,
        covered=summary["served_covered"],
        served=summary["served"],
        pct=summary["pct_served_covered"],
        buildings_covered=summary["buildings_covered"],
        buildings=summary["buildings"],
        buildings_unreachable=summary["buildings_unreachable"],
        facilities_unreachable=summary["facilities_unreachable"],
    )
    shown = units[
        [
            "code",
            "residents",
            "residents_covered",
            "pct_residents",
            "pct_households",
            "pct_buildings",
        ]
    ]
    click.echo(_table(shown, lang))
    if circles is not None:
        _write_circles(model, limit, circles)
        _say("cli.coverage.wrote_circles", lang, n=summary["facilities"], path=circles)
    if out is not None:
        frame = per_building.copy()
        if out.suffix.lower() == ".gpkg":
            frame = buildings[["geometry"]].join(frame)
        _write_table(frame, out)
        _say("cli.coverage.wrote_buildings", lang, n=len(frame), path=out)


def _write_circles(model, limit: float, path: Path) -> None:
    """Per-facility and merged service circles, EPSG:4326, in one GeoPackage file."""
    import geopandas as gpd
    import shapely

    from gridmap.io.atomic import atomic_path
    from gridmap.network import service_areas, snap

    if path.suffix.lower() != ".gpkg":
        raise InputError(f"--circles {path}: write a .gpkg file", field="--circles")
    facilities = model.facilities
    sources = snap(model.network, facilities)
    areas = service_areas(model.network, sources, limit=limit)
    each = gpd.GeoDataFrame(
        {"id": facilities["id"], "type": model.ftype, "meters": limit},
        geometry=areas,
        crs=model.network.crs,
    ).to_crs("EPSG:4326")
    merged = gpd.GeoDataFrame(
        {"type": [model.ftype], "meters": [limit]},
        geometry=[shapely.union_all(areas)],
        crs=model.network.crs,
    ).to_crs("EPSG:4326")
    with atomic_path(path) as tmp:
        each.to_file(tmp, layer="service_circles", driver="GPKG")
        merged.to_file(tmp, layer="service_circles_merged", driver="GPKG", mode="a")


def _network_of(roads, store: str):
    """The walking network of a store's roads, or a clear error when it has none."""
    from gridmap.network import build_network

    if roads.empty:
        raise InputError(
            f"the store {store} has no roads, so nothing can be measured along streets",
            hint="import a walking network: `gridmap import-osm STORE FILE.osm.pbf` or "
            "`gridmap import STORE roads.gpkg --layer roads`",
        )
    return build_network(roads)


def _table(frame, lang: str = "en") -> str:
    """A frame as aligned text (numbers rounded for reading, coordinates to 6 decimals).

    The headers are the columns' labels in ``lang`` (in English, the column names).
    """
    import pandas as pd

    headers = {c: label("column", c, lang) for c in frame.columns}
    coords = {headers[c]: "{:.6f}".format for c in ("x", "y") if c in frame}
    # Chinese headers are two columns wide on a terminal: pad them as such.
    with pd.option_context("display.unicode.east_asian_width", True):
        return frame.rename(columns=headers).to_string(
            index=False, float_format=lambda v: f"{v:,.1f}", formatters=coords
        )


def _write_table(frame, out: Path) -> None:
    """Write a result table to .csv (UTF-8 with BOM, codes as text) or .gpkg, atomically."""
    import csv

    import geopandas as gpd

    from gridmap.io.atomic import atomic_path

    suffix = out.suffix.lower()
    if suffix not in (".csv", ".gpkg"):
        raise InputError(f"--out {out}: write a .csv or a .gpkg file", field="--out")
    if not out.parent.exists():
        raise InputError(f"the folder of --out {out} does not exist", hint="create it first")
    with atomic_path(out) as tmp:
        if suffix == ".csv":
            plain = frame.drop(columns="geometry", errors="ignore")
            plain.to_csv(tmp, index=False, encoding="utf-8-sig", quoting=csv.QUOTE_NONNUMERIC)
        else:
            gpd.GeoDataFrame(frame, geometry="geometry", crs=frame.crs).to_file(
                tmp, driver="GPKG", layer=out.stem
            )


# -- incidents --------------------------------------------------------------


@cli.group()
def incidents() -> None:
    """Incidents: import a feed, move a case through its closed loop."""


@incidents.command("import")
@click.argument("store")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--crs", default=None, help="The file's CRS when it declares none [CSV: EPSG:4326].")
@click.option(
    "--offset",
    type=click.Choice(["gcj02", "bd09"]),
    default=None,
    help="Coordinates from AMap/Tencent (gcj02) or Baidu (bd09): shift them back to WGS 84.",
)
@click.option("--map", "maps", multiple=True, metavar="SRC=DST", help="Rename a file column.")
@click.option(
    "--tz",
    default="Asia/Shanghai",
    show_default=True,
    help="Time zone of times written without one (hotline exports are in Beijing time).",
)
@click.option("--strict", is_flag=True, help="Import nothing if any row is bad.")
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the rejected rows [default: FILE.rejects.csv beside the file].",
)
@_actor_option
def incidents_import(
    store: str,
    file: Path,
    crs: str | None,
    offset: str | None,
    maps: tuple[str, ...],
    tz: str,
    strict: bool,
    report: Path | None,
    actor: str | None,
) -> None:
    """Import incidents from FILE (CSV or GeoJSON): good rows in, bad rows to a report.

    Each row is checked (coordinates inside the district and in a grid, known
    category, source and step, parseable times, closed not before reported,
    unique id); the good rows go in in one transaction, and every rejected row
    is listed in the report with its row number and the reason. With --strict
    nothing is imported if any row is bad. The grid (and the building within
    30 m) comes from the location.
    """
    from gridmap.ingest import read_incident_file, write_reject_report
    from gridmap.services.accounts import cli_actor, require_role
    from gridmap.store import open_store

    with open_store(store) as st:
        who = cli_actor(st, actor)
        require_role(who, ("dispatcher",), "import incidents")
        districts = st.read("districts")
        result = read_incident_file(
            file,
            grids=st.read("grids"),
            buildings=st.read("buildings", columns=["code", "grid_code"]),
            district=districts.geometry.union_all() if len(districts) else None,
            existing_ids=st.keys("incidents"),
            crs=crs,
            offset=offset,
            mapping=_parse_map(maps),
            strict=strict,
            tz=tz,
        )
        if len(result.good):
            st.write(
                {"incidents": result.good, "incident_events": result.events},
                metadata=[
                    {
                        "layer": "incidents",
                        "source": f"imported from {file.name}",
                        "licence": "unknown",
                        "synthetic": False,
                    }
                ],
                audit=who.entry(
                    "import",
                    "incidents",
                    file=file.name,
                    rows=len(result.good),
                    rejected=int(result.rejects["row"].nunique()) if len(result.rejects) else 0,
                ),
            )
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    lang = _lang()
    _say("cli.incidents.imported", lang, n=len(result.good), store=store)
    if len(result.rejects):
        target = report or file.with_name(file.stem + ".rejects.csv")
        write_reject_report(result.rejects, target, flags=_flags())
        rows = result.rejects["row"].nunique()
        _say("cli.incidents.rejected", lang, n=rows, path=target)


@incidents.command("move")
@click.argument("store")
@click.argument("incident_id")
@click.option("--to", "to_step", default=None, help="The next step (e.g. dispatched, closed).")
@click.option(
    "--actor",
    default=None,
    metavar="USER",
    help="The account that moves it: its role must be allowed the move and the case be in its "
    "area [default: the local admin, recorded under the OS user's name].",
)
@click.option("--note", default=None, help="A note kept with the event.")
@click.option("--department", default=None, help="The department (when dispatching).")
@click.option(
    "--closed-level",
    type=click.Choice(["grid", "community", "subdistrict", "district", "department"]),
    default=None,
    help="Where the case was settled (when closing).",
)
@click.option(
    "--satisfaction",
    type=click.Choice(["satisfied", "basically_satisfied", "dissatisfied"]),
    default=None,
    help="The resident's answer (when evaluating).",
)
@click.option("--transfer", "transfer_to", default=None, metavar="DEPT", help="Transfer to DEPT.")
@click.option(
    "--whistle", "whistle_to", default=None, metavar="DEPT", help="Blow the whistle: call DEPT in."
)
@click.option("--hours", type=float, default=None, help="The whistle's response deadline in hours.")
def incidents_move(
    store: str,
    incident_id: str,
    to_step: str | None,
    actor: str,
    note: str | None,
    department: str | None,
    closed_level: str | None,
    satisfaction: str | None,
    transfer_to: str | None,
    whistle_to: str | None,
    hours: float | None,
) -> None:
    """Move incident INCIDENT_ID one step through the closed loop (or transfer, or whistle).

    Only the moves of the state machine are allowed (collected → registered | voided →
    dispatched → handling → reported_back → closed | back to handling → evaluated);
    a refused move says which moves are possible. If someone else moved the case
    since it was read, nothing is saved and you are told to reload.
    """
    from datetime import UTC, datetime

    from gridmap import incidents as inc
    from gridmap.accounts import authorize_move
    from gridmap.services.accounts import cli_actor
    from gridmap.store import open_store

    chosen = [x for x in (to_step, transfer_to, whistle_to) if x]
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of --to STEP, --transfer DEPT, --whistle DEPT")
    with open_store(store) as st:
        who = cli_actor(st, actor)
        found = st.read("incidents", where={"id": incident_id})
        if found.empty:
            raise InputError(f"no incident has the id '{incident_id}'", field="id")
        row = found.drop(columns="geometry").iloc[0].to_dict()
        now = datetime.now(UTC)
        if transfer_to:
            name = "transfer"
            new, events = inc.transfer(
                row, department=transfer_to, actor=who.name, at=now, note=note
            )
        elif whistle_to:
            name = "whistle"
            kwargs = {} if hours is None else {"hours": hours}
            new, events = inc.whistle(
                row, department=whistle_to, actor=who.name, at=now, note=note, **kwargs
            )
        else:
            new, events = inc.move(
                row,
                to_step,
                actor=who.name,
                at=now,
                note=note,
                department=department,
                closed_level=closed_level,
                satisfaction=satisfaction,
            )
            name = inc.move_of(str(row["step"]), to_step).name
        # The rights are checked on the case as read (its grid, its department).
        authorize_move(who.account, row, name)
        entry = who.entry(
            "incident_move",
            incident_id,
            move=name,
            steps=[[e["from_step"], e["to_step"]] for e in events],
            version=int(row["version"]) + 1,
        )
        st.move_incident(new, events, expected_version=int(row["version"]), audit=entry)
    lang = _lang()
    sep = "，" if lang == "zh" else ", "
    moves = sep.join(
        f"{_shown('step', e['from_step'], lang)} → {_shown('step', e['to_step'], lang)}"
        for e in events
    )
    _say("cli.incidents.moved", lang, id=incident_id, moves=moves, version=int(row["version"]) + 1)


# -- users, wall tokens, audit ----------------------------------------------


@cli.group()
def users() -> None:
    """Accounts of the dashboard: add, list, disable, change a password."""


@users.command("add")
@click.argument("store")
@click.argument("name")
@click.option(
    "--role",
    required=True,
    type=click.Choice(ROLES),
    help="What the user may do (README, Accounts and roles).",
)
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    metavar="CODE",
    help="A unit the user works in: a grid, community, subdistrict or the district "
    "(repeat for several) [default: the whole store].",
)
@click.option("--department", default=None, help="The department of a department account.")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from one line of standard input."
)
@_actor_option
def users_add(
    store: str,
    name: str,
    role: str,
    scopes: tuple[str, ...],
    department: str | None,
    password_stdin: bool,
    actor: str | None,
) -> None:
    """Add the account NAME to STORE.

    Without --password-stdin a password is generated and printed once.
    """
    from gridmap.services import accounts as svc
    from gridmap.store import open_store

    password = _read_password(password_stdin)
    with open_store(store) as st:
        who = svc.cli_actor(st, actor)
        generated = svc.add_user(
            st, who, name, role, scope=scopes, department=department, password=password
        )
    lang = _lang()
    _say("cli.users.added", lang, name=name, role=label("role", role, lang))
    if generated:
        _say("cli.users.generated", lang, name=name)
        click.echo(generated)


@users.command("list")
@click.argument("store")
@click.option("--json", "as_json", is_flag=True, help="Print the accounts as JSON.")
def users_list(store: str, as_json: bool) -> None:
    """List the accounts of STORE (never their passwords)."""
    from gridmap.store import open_store

    with open_store(store) as st:
        accounts = st.users()
    rows = [
        {
            "name": a.name,
            "role": a.role,
            "scope": list(a.scope),
            "department": a.department,
            "disabled": a.disabled,
            "locked_until": a.locked_until,
            "created_at": a.created_at,
        }
        for a in accounts
    ]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    lang = _lang()
    if not rows:
        _say("cli.users.none", lang)
        return
    heads = [
        t(f"cli.users.col.{c}", lang) for c in ("name", "role", "scope", "department", "state")
    ]
    lines = [
        [
            r["name"],
            label("role", r["role"], lang) if lang == "zh" else r["role"],
            ",".join(r["scope"]) or t("cli.users.everywhere", lang),
            r["department"] or "",
            _state(r, lang),
        ]
        for r in rows
    ]
    widths = [max(_width(x) for x in col) for col in zip(heads, *lines, strict=True)]
    for line in [heads, *lines]:
        click.echo("  ".join(_ljust(x, w) for x, w in zip(line, widths, strict=True)).rstrip())


def _state(row: dict, lang: str) -> str:
    """An account's state in `users list`: disabled, locked until when (UTC), or nothing."""
    from gridmap.audit import iso_utc

    if row["disabled"]:
        return t("cli.users.disabled", lang)
    if row["locked_until"] and row["locked_until"] > iso_utc():
        return t("cli.users.locked", lang).format(until=row["locked_until"][:16] + "Z")
    return ""


@users.command("disable")
@click.argument("store")
@click.argument("name")
@_actor_option
def users_disable(store: str, name: str, actor: str | None) -> None:
    """Disable the account NAME: it can no longer sign in or act (its history stays)."""
    from gridmap.services import accounts as svc
    from gridmap.store import open_store

    with open_store(store) as st:
        svc.disable_user(st, svc.cli_actor(st, actor), name)
    _say("cli.users.disabled_done", _lang(), name=name)


@users.command("passwd")
@click.argument("store")
@click.argument("name")
@click.option(
    "--password-stdin",
    is_flag=True,
    required=True,
    help="Read the new password from one line of standard input.",
)
@_actor_option
def users_passwd(store: str, name: str, password_stdin: bool, actor: str | None) -> None:
    """Set the password of the account NAME (and lift a lockout)."""
    from gridmap.services import accounts as svc
    from gridmap.store import open_store

    password = _read_password(password_stdin)
    with open_store(store) as st:
        svc.set_password(st, svc.cli_actor(st, actor), name, password)
    _say("cli.users.passwd", _lang(), name=name)


@cli.group("wall-token")
def wall_token() -> None:
    """Tokens that open a read-only wall display without a password."""


@wall_token.command("create")
@click.argument("store")
@click.argument("name")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    metavar="CODE",
    help="The unit the wall shows (repeatable) [default: the whole district].",
)
@_actor_option
def wall_token_create(store: str, name: str, scopes: tuple[str, ...], actor: str | None) -> None:
    """Create the wall token NAME; the token is printed once, alone on the last line.

    Open the dashboard at /wall?token=TOKEN on the wall display. Only the token's
    SHA-256 is kept: a lost token is revoked and made again.
    """
    from gridmap.services import accounts as svc
    from gridmap.store import open_store

    with open_store(store) as st:
        token = svc.create_token(st, svc.cli_actor(st, actor), name, scopes)
    _say("cli.token.created", _lang(), name=name)
    click.echo(token)


@wall_token.command("revoke")
@click.argument("store")
@click.argument("name")
@_actor_option
def wall_token_revoke(store: str, name: str, actor: str | None) -> None:
    """Revoke the wall token NAME: its wall is signed out on its next request."""
    from gridmap.services import accounts as svc
    from gridmap.store import open_store

    with open_store(store) as st:
        svc.revoke_token(st, svc.cli_actor(st, actor), name)
    _say("cli.token.revoked", _lang(), name=name)


def _when(text: str | None, flag: str) -> datetime | None:
    """A time given on the command line: ISO 8601; without a zone, Beijing time."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(
            f"'{text}' is not a date or time", field=flag, hint="use 2026-06-01 or 2026-06-01T08:00"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=ZoneInfo("Asia/Shanghai"))
    return when.astimezone(UTC)


@cli.command()
@click.argument("store")
@click.option("--since", default=None, metavar="T", help="Rows at or after T (Beijing time).")
@click.option("--user", default=None, help="Rows of this user.")
@click.option(
    "--action",
    default=None,
    type=click.Choice(ACTIONS),
    help="Rows of this action.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the rows as a JSON list.")
@click.option(
    "--verify",
    is_flag=True,
    help="Check the hash chain: exit 1 naming the first row changed or removed.",
)
@click.option(
    "--prune-before",
    default=None,
    metavar="T",
    help="Remove rows older than T (refused for rows younger than 180 days).",
)
@_actor_option
def audit(
    store: str,
    since: str | None,
    user: str | None,
    action: str | None,
    as_json: bool,
    verify: bool,
    prune_before: str | None,
    actor: str | None,
) -> None:
    """Read, verify or prune the audit log of STORE (who did what, when, from where)."""
    from gridmap.audit import iso_utc
    from gridmap.services import accounts as svc
    from gridmap.store import open_store

    lang = _lang()
    with open_store(store) as st:
        who = svc.cli_actor(st, actor)
        svc.require_role(who, (), "read the audit log")
        if prune_before is not None:
            before = _when(prune_before, "--prune-before")
            n = st.prune_audit(before, audit=who.entry("audit_prune", before=iso_utc(before)))
            _say("cli.audit.pruned", lang, n=n, before=iso_utc(before))
            return
        if verify:
            broken, n, head = st.verify_audit()
            if broken is not None:
                _say("cli.audit.broken", lang, id=broken.id, reason=broken.reason)
                raise click.exceptions.Exit(1)
            _say("cli.audit.intact", lang, n=n, id=head[0], hash=head[1])
            return
        start = _when(since, "--since")
        rows = st.audit_log(since=iso_utc(start) if start else None, user=user, action=action)
    for r in rows:
        r["detail"] = json.loads(r["detail"] or "{}")
    if as_json:
        keys = ("at", "user", "role", "address", "action", "target", "detail")
        click.echo(json.dumps([{k: r[k] for k in keys} for r in rows], ensure_ascii=False))
        return
    for r in rows:
        detail = json.dumps(r["detail"], ensure_ascii=False) if r["detail"] else ""
        click.echo(
            f"{r['at']}  {r['user']} ({r['role']}, {r['address']})  {r['action']}  "
            f"{r['target']}  {detail}".rstrip()
        )


# -- db ---------------------------------------------------------------------


@cli.group()
def db() -> None:
    """Manage a PostGIS store's schema."""


@db.command("upgrade")
@click.argument("store", required=False)
def db_upgrade(store: str | None) -> None:
    """Create or upgrade the gridmap schema of STORE to this version (Alembic migrations).

    Running it again on an up-to-date store changes nothing. A GeoPackage store
    needs no migrations: it is created with the current schema.
    """
    from gridmap.store import is_database_url, open_store
    from gridmap.store.postgis import safe_url, upgrade

    store = _store_address(store)
    if not is_database_url(store):
        open_store(store, create=True).close()
        _say("cli.db.gpkg", _lang(), store=store)
        return
    before, after = upgrade(store)
    lang = _lang()
    if before == after:
        _say("cli.db.current", lang, store=safe_url(store), version=after)
    elif not before:
        _say("cli.db.created", lang, store=safe_url(store), after=after)
    else:
        _say("cli.db.upgraded", lang, store=safe_url(store), before=before, after=after)


# -- stats / info -----------------------------------------------------------


@cli.command()
@click.argument("store", required=False)
@click.option("--unit", default=None, help="A unit's code (any level); default: the district.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.pass_context
def stats(ctx: click.Context, store: str, unit: str | None, as_json: bool) -> None:
    """Print a unit's figures: residents, households, buildings, grids, party coverage."""
    from gridmap.services.stats import store_unit_stats
    from gridmap.stats import format_stats
    from gridmap.store import open_store

    store = _store_address(store)
    # Counting happens in the store (SQL); only the unit and its points are read.
    with open_store(store) as st:
        figures = store_unit_stats(st, unit)
    if as_json:
        click.echo(json.dumps(figures, ensure_ascii=False, indent=2, default=_json_default))
    else:
        click.echo(format_stats(figures, lang=_lang(ctx)))


@cli.command()
@click.argument("store", required=False)
def info(store: str) -> None:
    """List STORE's layers with their row counts and provenance (source, licence, synthetic)."""
    store = _store_address(store)
    from gridmap.store import open_store

    with open_store(store) as st:
        counts = st.counts()
        meta = st.read("metadata").set_index("layer")
    lang = _lang()
    _say("cli.info.store", lang, store=store)
    for name, n in counts.items():
        if name == "metadata":
            continue
        line = f"  {_ljust(_shown('layer', name, lang), 16)}{n:>10,}"
        if name in meta.index:
            row = meta.loc[name]
            flag = t("cli.info.synthetic" if row["synthetic"] else "cli.info.real", lang)
            line += f"  [{flag}] {row['source']} ({row['licence']})"
        click.echo(line)


def _width(text: str) -> int:
    """Terminal columns of ``text`` (a Chinese character takes two)."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _ljust(text: str, width: int) -> str:
    """``text`` padded to ``width`` terminal columns (a Chinese character takes two)."""
    return text + " " * max(width - _width(text), 0)


def _json_default(value: object) -> object:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _flags() -> dict[str, str]:
    """Every option's flag by its Python name (``grid_size`` -> ``--grid-size``), for errors.

    The core names options without knowing the CLI (:func:`gridmap.errors.option`);
    here they become the flags a user types.
    """
    flags: dict[str, str] = {}

    def walk(command: click.Command) -> None:
        for param in command.params:
            if isinstance(param, click.Option) and param.name:
                flags.setdefault(param.name, max(param.opts, key=len))
        for sub in getattr(command, "commands", {}).values():
            walk(sub)

    walk(cli)
    return flags


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; user errors become one line on stderr and exit status 2."""
    try:
        rc = cli.main(args=argv, prog_name="gridmap", standalone_mode=False)
    except GridmapError as exc:
        flags = _flags()
        click.echo(f"gridmap: error: {exc.render(flags)}", err=True)
        for problem in getattr(exc, "problems", [])[1:20]:
            click.echo(f"  also: {render_options(problem, flags)}", err=True)
        return 2
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return 130
    except ModuleNotFoundError as exc:
        # A command whose optional dependencies are not installed (gridmap[app],
        # gridmap[postgis]) says which extra to install; any other missing module
        # is a broken install and keeps its traceback.
        words = [a for a in (sys.argv[1:] if argv is None else argv) if not a.startswith("-")]
        missing = missing_extra(exc, f"gridmap {words[0]}" if words else None)
        if missing is None:
            raise
        click.echo(f"gridmap: error: {missing.render()}", err=True)
        return 2
    # Without standalone mode click returns ctx.exit()'s code (or the command's value).
    return rc if isinstance(rc, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

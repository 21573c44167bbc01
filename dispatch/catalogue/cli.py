"""``griddispatch load-grid`` and ``grid-versions``: a city's own grid in, its versions listed.

``load-grid`` reads a GeoPackage, Shapefile or GeoJSON cell layer with the city's column
names, converts it to WGS-84, validates it (geo.validate) and checks it against the city's
data (every event type in every cell has a lead unit; every unit's area exists). Only then
does it write the city folder (``--out``) and/or store it in the database as a new grid
version in force (``--activate``). A refused grid writes nothing.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import click

from dispatch.ops.clidb import database_option, on_database

#: the column options: (option name, ColumnMap key, help)
_COLUMN_OPTIONS = (
    ("--code-column", "code", "Column of the cell code (default: code)."),
    ("--community-column", "community", "Column of the community (社区) code."),
    ("--street-column", "street", "Column of the street office (街道) code."),
    ("--district-column", "district", "Column of the district (区) code."),
    ("--community-name-column", "community_name", "Column of the community's name."),
    ("--street-name-column", "street_name", "Column of the street office's name."),
    ("--district-name-column", "district_name", "Column of the district's name."),
)
_MAPPING_KEYS = {"columns", "layer", "source_crs", "encoding"}


def _column_options(f: Any) -> Any:
    for option, key, text in reversed(_COLUMN_OPTIONS):
        f = click.option(option, key, default=None, help=text)(f)
    return f


def read_mapping(path: Path | None) -> dict[str, Any]:
    """A mapping file: ``[columns]`` key = "source column", and layer, source_crs, encoding."""
    if path is None:
        return {}
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise click.ClickException(f"{path}: not a readable TOML file: {exc}") from None
    unknown = sorted(set(doc) - _MAPPING_KEYS)
    if unknown:
        raise click.ClickException(
            f"{path}: unknown key(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(_MAPPING_KEYS))}"
        )
    if not isinstance(doc.get("columns", {}), dict):
        raise click.ClickException(f'{path}: [columns] must be a table of key = "column"')
    return doc


@click.command("load-grid")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--layer", default=None, help="Layer to read (a GeoPackage may hold several).")
@click.option(
    "--mapping",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="TOML file with [columns] (keys as the column options, and *_name_en) and "
    "layer, source_crs, encoding. Options given here win.",
)
@_column_options
@click.option(
    "--source-crs",
    default=None,
    help="The source's coordinate system when it declares none or declares it wrongly: "
    "wgs84, cgcs2000, gcj02 (AMap/Tencent), bd09 (Baidu), or an EPSG code (EPSG:4545).",
)
@click.option("--encoding", default=None, help="Attribute encoding, e.g. GBK for old Shapefiles.")
@click.option(
    "--city",
    "city_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="City folder whose units and rules check the grid (default: GRIDDISPATCH_CITY_DIR "
    "or the Nanning demo city).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write cells.geojson and areas.geojson into this city folder (may be --city).",
)
@click.option(
    "--activate",
    is_flag=True,
    help="Store the grid in the database (DATABASE_URL) as a new version in force from now; "
    "restart the app processes to serve it.",
)
def load_grid(
    source: Path,
    layer: str | None,
    mapping: Path | None,
    source_crs: str | None,
    encoding: str | None,
    city_dir: Path | None,
    out: Path | None,
    activate: bool,
    **columns: str | None,
) -> None:
    """Load a city's grid from SOURCE (GeoPackage, Shapefile or GeoJSON).

    Without --out or --activate it only checks and reports.
    """
    from dispatch.catalogue.checks import check_grid
    from dispatch.citydata import CityDataError, load_city
    from dispatch.config import Settings
    from geo import GeoError
    from geo.io import read_layer
    from geo.source import ColumnMap, import_cells

    doc = read_mapping(mapping)
    wanted = {**doc.get("columns", {}), **{k: v for k, v in columns.items() if v is not None}}
    layer = layer or doc.get("layer")
    source_crs = source_crs or doc.get("source_crs")
    encoding = encoding or doc.get("encoding")
    settings = Settings()
    city_dir = city_dir or settings.city_dir
    try:
        column_map = ColumnMap.from_mapping(wanted)
        table = read_layer(source, layer=layer, encoding=encoding)
        files = import_cells(
            table,
            column_map,
            source_crs=source_crs,
            origin=source.name,
            snap_tolerance_m=settings.snap_tolerance_m,
        )
        city = load_city(city_dir)
    except (GeoError, ValueError, CityDataError) as exc:
        raise click.ClickException(f"refused, nothing written: {exc}") from None
    grid = files.grid
    assert grid.validation is not None
    click.echo(
        f"{source.name}: layer {table.name}, declared {table.crs or 'no CRS'}; "
        f"converted to WGS-84 from {files.source_crs}"
    )
    click.echo(f"grid: {grid.validation.summary()}")
    for gap in grid.validation.gaps[:10]:
        click.echo(f"  gap of {gap.area_m2:.0f} m² at {gap.lon:.6f}, {gap.lat:.6f}")
    levels = {
        lvl: sum(a.level == lvl for a in grid.areas.values())
        for lvl in ("district", "street", "community")
    }
    click.echo("areas: " + ", ".join(f"{n} {lvl}" for lvl, n in levels.items()))
    check = check_grid(city, grid)
    for line in check.warnings():
        click.echo(f"  warning: {line}")
    if not check.ok:
        for line in check.problems():
            click.echo(f"  {line}")
        raise click.ClickException(
            f"refused, nothing written: the grid does not fit the city data in {city_dir}"
        )
    click.echo(f"checked against {city_dir.name}: every event type in every cell has a lead unit")
    if activate:
        _activate(
            settings.database_url,
            files,
            f"load-grid {source.name}"
            + (f" layer {table.name}" if layer else "")
            + f" ({files.source_crs})",
        )
    if out is not None:
        files.write(out)
        click.echo(f"wrote {out / 'cells.geojson'} and {out / 'areas.geojson'}")
    if not activate and out is None:
        click.echo("checked only: give --out DIR and/or --activate to use it")


def _activate(url: str, files: Any, source: str) -> None:
    from dispatch.catalogue.grids import idle_beats
    from dispatch.catalogue.versions import VersionInfo, add_version

    def store(engine: Any) -> tuple[VersionInfo, bool]:
        for line in idle_beats(engine, files.grid):
            click.echo(f"  warning: {line}")
        return add_version(engine, files.grid, source=source)

    info, created = on_database(url, store)
    if created:
        click.echo(
            f"grid version {info.id} ({info.cells} cells) is in force from "
            f"{info.valid_from:%Y-%m-%d %H:%M:%S} UTC; restart the app processes to serve it"
        )
    else:
        click.echo(f"this grid already is version {info.id}, in force: nothing to do")


@click.command("grid-versions")
@database_option
def grid_versions(database_url: str | None) -> None:
    """List the grid versions: when each was loaded, from what, and when it was in force."""
    from dispatch.catalogue.versions import list_versions

    def read(engine: Any) -> list[Any]:
        with engine.connect() as conn:
            return list_versions(conn)

    versions = on_database(database_url, read)
    if not versions:
        click.echo("no grid versions yet: the app stores the city folder's grid at its first start")
    for v in versions:
        until = "in force" if v.current else f"until {v.valid_to:%Y-%m-%d %H:%M}"
        click.echo(
            f"{v.id:>4}  {v.cells:>7} cells  from {v.valid_from:%Y-%m-%d %H:%M} {until:<22}  "
            f"{v.checksum[:12]}  {v.source}"
        )

"""Which grid a process serves, and the older versions it shows old cases with.

At start-up the city folder's grid is compared with the versions in the database:

* it is the version in force: served as it is (already validated when it was stored);
* the database has never seen it: validated, checked against the city's data (routing,
  units), stored and put in force, so editing the folder and restarting redraws the grid;
* it is an older version (this machine's folder was not updated after ``load-grid``): the
  version in force is read from the database instead, and a warning says so.

Only the version in force is held in memory for locating; older ones are read from the
database when an old case or ``?version=`` asks for them, and kept (they never change).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import Engine, select
from sqlmodel import col

from dispatch.auth.models import User
from dispatch.catalogue.checks import check_grid, prefixes_any
from dispatch.catalogue.versions import (
    LEGACY_CHECKSUM_LEN,
    VersionInfo,
    add_version,
    adopt_legacy,
    current_version,
    get_version,
    list_versions,
    load_version,
    version_areas,
)
from dispatch.citydata import CityData
from dispatch.errors import NotFound
from geo import Area, Grid

log = logging.getLogger("griddispatch.grid")


class GridRefused(ValueError):
    """A grid that fails the checks against the city's data (routing holes, units)."""

    def __init__(self, what: str, problems: list[str]) -> None:
        super().__init__(f"{what} refused:\n  " + "\n  ".join(problems))
        self.problems = problems


def store_checked(engine: Engine, grid: Grid, city: CityData, *, source: str) -> VersionInfo:
    """Check ``grid`` against the city's data, then store it and put it in force."""
    check = check_grid(city, grid)
    for line in [*check.warnings(), *idle_beats(engine, grid)]:
        log.warning("grid: %s", line)
    if not check.ok:
        raise GridRefused(f"grid from {source}", check.problems())
    info, _ = add_version(engine, grid, source=source)
    return info


def idle_beats(engine: Engine, grid: Grid) -> list[str]:
    """Active accounts whose beat (area prefix) matches no cell of ``grid``: they would see
    no case in it until their beat is changed."""
    query = select(col(User.username), col(User.area_prefix)).where(
        col(User.area_prefix).is_not(None), col(User.active)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        f"user {name}: beat {prefix} matches no cell of the grid"
        for name, prefix in rows
        if prefix and not prefixes_any(grid.codes, prefix)
    ]


def open_grid(
    engine: Engine, folder: Path, city: CityData, snap_tolerance_m: float
) -> tuple[Grid, VersionInfo]:
    """The grid to serve and its version (see the module docstring for the rules)."""
    grid = Grid.load(folder, validate=False, snap_tolerance_m=snap_tolerance_m)
    with engine.connect() as conn:
        current = current_version(conn)
        known = [v for v in list_versions(conn) if v.matches(grid)]
    if current is not None and current.matches(grid):
        if len(current.checksum) == LEGACY_CHECKSUM_LEN:
            current = adopt_legacy(engine, current, grid)
        return grid, current
    if current is not None and known:
        log.warning(
            "grid: the city folder %s holds version %d, superseded since %s; serving "
            "version %d (in force) from the database: update the folder",
            folder,
            known[-1].id,
            known[-1].valid_to,
            current.id,
        )
        with engine.connect() as conn:
            return load_version(conn, current.id, snap_tolerance_m=snap_tolerance_m), current
    from geo.validate import validate_grid

    grid.validation = validate_grid(
        grid.codes, grid.geoms, grid.parents, grid.areas, grid.area_geoms, path=str(folder)
    )
    info = store_checked(engine, grid, city, source=f"city folder {folder.name}")
    log.info("grid: version %d (%d cells) from %s is in force", info.id, len(grid), folder)
    return grid, info


class GridVersions:
    """The version in force (in memory, for locating) and older ones, read on demand."""

    def __init__(
        self,
        engine: Engine,
        current: VersionInfo,
        grid: Grid,
        snap_tolerance_m: float,
        keep_grids: int = 2,
    ) -> None:
        self.current = current
        self.grid = grid
        self._engine = engine
        self._snap = snap_tolerance_m
        self._keep = keep_grids
        self._areas: dict[int, Mapping[str, Area]] = {}
        self._grids: OrderedDict[int, Grid] = OrderedDict()
        self._lock = threading.Lock()

    def areas(self, version_id: int) -> Mapping[str, Area]:
        """A version's areas by code (an unknown version has none: codes are shown)."""
        if version_id == self.current.id:
            return self.grid.areas
        with self._lock:
            found = self._areas.get(version_id)
        if found is None:
            with self._engine.connect() as conn:
                found = version_areas(conn, version_id)
            with self._lock:
                self._areas[version_id] = found
        return found

    def grid_of(self, version_id: int | None) -> Grid:
        """A version's grid: the one in force, or an older one read from the database."""
        if version_id is None or version_id == self.current.id:
            return self.grid
        with self._lock:
            found = self._grids.get(version_id)
            if found is not None:
                self._grids.move_to_end(version_id)
                return found
        with self._engine.connect() as conn:
            if get_version(conn, version_id) is None:
                raise NotFound(
                    f"there is no grid version {version_id}",
                    code="unknown_grid_version",
                    details={"version": version_id},
                )
            found = load_version(conn, version_id, snap_tolerance_m=self._snap)
        with self._lock:
            self._grids[version_id] = found
            while len(self._grids) > self._keep:
                self._grids.popitem(last=False)
        return found

    def listing(self) -> list[VersionInfo]:
        with self._engine.connect() as conn:
            return list_versions(conn)

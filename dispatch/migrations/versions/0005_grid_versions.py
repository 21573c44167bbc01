"""Grid versions: cells and areas belong to a version, cases keep the version they were in.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

Until now a cell was its code (``cell.code`` the key, ``cases.cell`` a foreign key to it)
and a redrawn grid would have moved old cases to new cells. Now:

* ``grid_version (id, checksum, source, cells, loaded_at, valid_from, valid_to,
  in_force)``: one row per drawing; the current one has ``valid_to`` NULL and
  ``in_force`` TRUE (NULL for the others), a CHECK ties the two together and a unique
  constraint on ``in_force`` lets only one row be current.
* ``cell`` and ``area`` are keyed by ``(grid_version, code)`` and keep their outline as
  WKB (``shape``), so an old version can be shown and served again; on PostGIS a trigger
  (``cell_set_geom``) sets ``cell.geom`` from ``shape``.
* ``cases.grid_version`` (was the 12-character prefix of the cells file's sha256) is an
  integer key of ``grid_version``, and ``(grid_version, cell)`` a foreign key to ``cell``.

Existing data: when the database holds any cell, area or case, version 1 is made for
them, its checksum the old prefix (the app recognises it and, when the city folder still
holds that grid, fills in the outlines at the next start), valid from the first case.
Every cell, area and case is given version 1. This rewrites the ``cases`` table once.

SQLite cannot change a primary key in place: ``cell``, ``area`` and ``cases`` are rebuilt
(create the new table, copy, drop, rename, recreate the indexes), spelled out here rather
than reflected, so ``alembic upgrade --sql`` renders it as well.

``downgrade()`` works while the database holds one version only (with more, old cases'
cells would be lost): codes become that version's checksum prefix again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import context, op

from dispatch.dbtypes import UTCDateTime

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEGACY_SOURCE = "cells and areas in the database before grid versions (migration 0005)"
IN_FORCE_CHECK = "(in_force IS NULL AND valid_to IS NOT NULL) OR (in_force AND valid_to IS NULL)"

CELL_GEOM_FUNCTION = """
CREATE FUNCTION cell_set_geom() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.geom := CASE WHEN NEW.shape IS NULL THEN NULL
        ELSE ST_Multi(ST_SetSRID(ST_GeomFromWKB(NEW.shape), 4326)) END;
    RETURN NEW;
END
$$
"""
CELL_GEOM_TRIGGER = """
CREATE TRIGGER cell_set_geom BEFORE INSERT OR UPDATE OF shape ON cell
    FOR EACH ROW EXECUTE FUNCTION cell_set_geom()
"""


def _is_postgresql() -> bool:
    return op.get_context().dialect.name == "postgresql"


def upgrade() -> None:
    op.create_table(
        "grid_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("checksum", sa.String(64), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("cells", sa.Integer(), nullable=False),
        sa.Column("loaded_at", UTCDateTime(), nullable=False),
        sa.Column("valid_from", UTCDateTime(), nullable=False),
        sa.Column("valid_to", UTCDateTime(), nullable=True),
        sa.Column("in_force", sa.Boolean(), nullable=True),
        sa.CheckConstraint(IN_FORCE_CHECK, name="ck_grid_version_in_force"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("in_force", name="uq_grid_version_in_force"),
    )
    op.create_index("ix_grid_version_checksum", "grid_version", ["checksum"])
    # plain SQL, so `alembic upgrade --sql` renders it too
    op.execute(
        "INSERT INTO grid_version"
        " (id, checksum, source, cells, loaded_at, valid_from, valid_to, in_force)"
        " SELECT 1, coalesce((SELECT grid_version FROM cell GROUP BY grid_version"
        " ORDER BY count(*) DESC, grid_version LIMIT 1), 'unknown'),"
        f" '{LEGACY_SOURCE}', (SELECT count(*) FROM cell), CURRENT_TIMESTAMP,"
        " coalesce((SELECT min(created_at) FROM cases), CURRENT_TIMESTAMP), NULL, TRUE"
        " WHERE EXISTS (SELECT 1 FROM cell) OR EXISTS (SELECT 1 FROM area)"
        " OR EXISTS (SELECT 1 FROM cases)"
    )
    if _is_postgresql():
        _upgrade_postgresql()
    else:
        _upgrade_sqlite()


def _upgrade_postgresql() -> None:
    op.execute(
        "SELECT setval(pg_get_serial_sequence('grid_version', 'id'),"
        " coalesce(max(id), 0) + 1, false) FROM grid_version"
    )
    op.drop_constraint("cases_cell_fkey", "cases", type_="foreignkey")
    op.drop_constraint("cell_pkey", "cell", type_="primary")
    op.execute("ALTER TABLE cell ALTER COLUMN grid_version TYPE integer USING 1")
    op.create_primary_key("cell_pkey", "cell", ["grid_version", "code"])
    op.create_foreign_key(
        "cell_grid_version_fkey", "cell", "grid_version", ["grid_version"], ["id"]
    )
    op.add_column("cell", sa.Column("shape", sa.LargeBinary(), nullable=True))
    op.execute("UPDATE cell SET shape = ST_AsBinary(geom) WHERE geom IS NOT NULL")
    op.execute(CELL_GEOM_FUNCTION)
    op.execute(CELL_GEOM_TRIGGER)

    op.add_column(
        "area", sa.Column("grid_version", sa.Integer(), nullable=False, server_default="1")
    )
    op.alter_column("area", "grid_version", server_default=None)
    op.add_column("area", sa.Column("shape", sa.LargeBinary(), nullable=True))
    op.drop_constraint("area_pkey", "area", type_="primary")
    op.create_primary_key("area_pkey", "area", ["grid_version", "code"])
    op.create_foreign_key(
        "area_grid_version_fkey", "area", "grid_version", ["grid_version"], ["id"]
    )

    op.execute("ALTER TABLE cases ALTER COLUMN grid_version TYPE integer USING 1")
    op.create_foreign_key(
        "cases_grid_version_fkey", "cases", "grid_version", ["grid_version"], ["id"]
    )
    op.create_foreign_key(
        "fk_cases_cell_version",
        "cases",
        "cell",
        ["grid_version", "cell"],
        ["grid_version", "code"],
    )


def _upgrade_sqlite() -> None:
    """Rebuild the three tables; every old row is given version 1."""
    one = {"grid_version": "1"}
    _rebuild("cell", _cell(versioned=True), one, CELL_INDEXES)
    _rebuild("area", _area(versioned=True), one, AREA_INDEXES)
    _rebuild("cases", _cases(versioned=True), one, CASES_INDEXES)


def downgrade() -> None:
    if not context.is_offline_mode():
        versions = op.get_bind().scalar(sa.text("SELECT count(*) FROM grid_version"))
        if versions and versions > 1:
            raise RuntimeError(
                f"the database holds {versions} grid versions; below 0005 a cell is its code "
                "alone, so old cases would lose their cells: not downgrading"
            )
    prefix = {"grid_version": "(SELECT substr(checksum, 1, 12) FROM grid_version)"}
    if _is_postgresql():
        op.execute("DROP TRIGGER IF EXISTS cell_set_geom ON cell")
        op.execute("DROP FUNCTION IF EXISTS cell_set_geom()")
        op.drop_constraint("fk_cases_cell_version", "cases", type_="foreignkey")
        op.drop_constraint("cases_grid_version_fkey", "cases", type_="foreignkey")
        op.drop_constraint("area_grid_version_fkey", "area", type_="foreignkey")
        op.drop_constraint("cell_grid_version_fkey", "cell", type_="foreignkey")
        for table in ("cell", "cases"):
            op.execute(f"ALTER TABLE {table} ALTER COLUMN grid_version TYPE varchar(16)")
            op.execute(f"UPDATE {table} SET grid_version = {prefix['grid_version']}")
        op.drop_constraint("area_pkey", "area", type_="primary")
        op.drop_column("area", "grid_version")
        op.drop_column("area", "shape")
        op.create_primary_key("area_pkey", "area", ["code"])
        op.drop_constraint("cell_pkey", "cell", type_="primary")
        op.drop_column("cell", "shape")
        op.create_primary_key("cell_pkey", "cell", ["code"])
        op.create_foreign_key("cases_cell_fkey", "cases", "cell", ["cell"], ["code"])
    else:
        _rebuild("cases", _cases(versioned=False), prefix, CASES_INDEXES)
        _rebuild("area", _area(versioned=False), {}, AREA_INDEXES)
        _rebuild("cell", _cell(versioned=False), prefix, CELL_INDEXES)
    op.drop_index("ix_grid_version_checksum", table_name="grid_version")
    op.drop_table("grid_version")


# --- SQLite: the three tables before and after, spelled out --------------------------

CELL_INDEXES = {"community": ["community"], "district": ["district"], "street": ["street"]}
AREA_INDEXES = {"parent": ["parent"]}
CASES_INDEXES = {
    **{
        c: [c]
        for c in (
            "cell", "created_at", "district", "event_type", "reporter_id", "status", "updated_at"
        )
    },
    "cell_type_time": ["cell", "event_type", "created_at"],
}  # fmt: skip
#: columns a rebuild does not copy: they are new (filled later, or NULL)
_NOT_COPIED = {"shape"}


def _rebuild(
    name: str,
    items: list[sa.Column[Any] | sa.Constraint],
    values: dict[str, str],
    indexes: dict[str, list[str]],
) -> None:
    """SQLite's way to change keys: new table, copy, drop, rename, indexes again.

    Columns are copied by name, except ``values`` (SQL expressions) and the new ones.
    """
    columns = [c.name for c in items if isinstance(c, sa.Column) and c.name not in _NOT_COPIED]
    source = [values.get(c, c) for c in columns]
    op.create_table(f"_new_{name}", *items)
    op.execute(
        f"INSERT INTO _new_{name} ({', '.join(columns)}) SELECT {', '.join(source)} FROM {name}"
    )
    op.drop_table(name)
    op.rename_table(f"_new_{name}", name)
    for suffix, cols in indexes.items():
        op.create_index(f"ix_{name}_{suffix}", name, cols)


def _version_items(versioned: bool, key: str) -> list[sa.Column[Any] | sa.Constraint]:
    if not versioned:
        return [
            sa.Column("grid_version", sa.String(16), nullable=False),
            sa.PrimaryKeyConstraint(key),
        ]
    return [
        sa.Column("grid_version", sa.Integer(), nullable=False),
        sa.Column("shape", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("grid_version", key),
        sa.ForeignKeyConstraint(["grid_version"], ["grid_version.id"]),
    ]


def _cell(*, versioned: bool) -> list[sa.Column[Any] | sa.Constraint]:
    return [
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("community", sa.String(32), nullable=False),
        sa.Column("street", sa.String(32), nullable=False),
        sa.Column("district", sa.String(32), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        *_version_items(versioned, "code"),
    ]


def _area(*, versioned: bool) -> list[sa.Column[Any] | sa.Constraint]:
    items: list[sa.Column[Any] | sa.Constraint] = [
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("name_zh", sa.String(), nullable=False),
        sa.Column("name_en", sa.String(), nullable=False),
        sa.Column("parent", sa.String(32), nullable=True),
        sa.Column("generated", sa.Boolean(), nullable=False),
    ]
    if versioned:
        return [*items, *_version_items(True, "code")]
    return [*items, sa.PrimaryKeyConstraint("code")]


def _cases(*, versioned: bool) -> list[sa.Column[Any] | sa.Constraint]:
    """``cases`` as 0001 made it (no later revision changed its columns), then versioned."""
    status = sa.Enum(
        "reported", "dispatched", "verifying", "closed", "rejected",
        name="case_status", native_enum=False, create_constraint=True, length=24,
    )  # fmt: skip
    text, time, flag = sa.String, UTCDateTime, sa.Boolean
    items: list[sa.Column[Any] | sa.Constraint] = [
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_no", text(32), nullable=False),
        sa.Column("event_type", text(16), nullable=False),
        sa.Column("status", status, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("urgent", flag(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("input_crs", text(16), nullable=False),
        sa.Column("input_lon", sa.Float(), nullable=False),
        sa.Column("input_lat", sa.Float(), nullable=False),
        sa.Column("accuracy_m", sa.Float(), nullable=True),
        sa.Column("near_edge", flag(), nullable=False),
        sa.Column("snapped_m", sa.Float(), nullable=False),
        sa.Column("cell", text(32), nullable=False),
        sa.Column("community", text(32), nullable=False),
        sa.Column("street", text(32), nullable=False),
        sa.Column("district", text(32), nullable=False),
        sa.Column("grid_version", sa.Integer() if versioned else text(16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("reporter_id", sa.Integer(), nullable=False),
        sa.Column("routing_rule", text(), nullable=True),
        sa.Column("self_handled", flag(), nullable=False),
        sa.Column("report_count", sa.Integer(), nullable=False),
        sa.Column("rework_count", sa.Integer(), nullable=False),
        sa.Column("reject_reason", text(), nullable=True),
        sa.Column("captured_at", time(), nullable=False),
        sa.Column("created_at", time(), nullable=False),
        sa.Column("dispatched_at", time(), nullable=True),
        sa.Column("resolved_at", time(), nullable=True),
        sa.Column("verify_due", time(), nullable=True),
        sa.Column("closed_at", time(), nullable=True),
        sa.Column("updated_at", time(), nullable=False),
        sa.Column("closed_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["closed_by"], ["user_account.id"]),
        sa.ForeignKeyConstraint(["event_type"], ["event_type.code"]),
        sa.ForeignKeyConstraint(["reporter_id"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_no"),
    ]
    if not versioned:
        return [*items, sa.ForeignKeyConstraint(["cell"], ["cell.code"])]
    return [
        *items,
        sa.ForeignKeyConstraint(["grid_version"], ["grid_version.id"]),
        sa.ForeignKeyConstraint(
            ["grid_version", "cell"],
            ["cell.grid_version", "cell.code"],
            name="fk_cases_cell_version",
        ),
    ]

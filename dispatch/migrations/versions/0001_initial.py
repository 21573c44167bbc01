"""Initial schema: every table of the models, the transition table, PostGIS extras.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Written from ``alembic revision --autogenerate`` against an empty SQLite database,
then tidied by hand. Besides the model tables it creates:

``transition`` and the event-log check
    ``transition (entity, from_status, to_status)`` holds the legal status moves,
    frozen below as :data:`TRANSITION_ROWS` (a copy of
    ``dispatch.tickets.states.TRANSITIONS`` at the time of writing; a test keeps the
    two equal, so changing the workflow needs a new migration). ``event_log`` gets
    a composite foreign key ``(entity, from_status, to_status) → transition``: the
    database refuses a logged move the workflow does not allow.

    How services write ``event_log``:

    * a status change: ``entity`` = ``'case'`` or ``'ticket'``, ``from_status`` /
      ``to_status`` = the old and new status;
    * a creation (a case reported, a ticket dispatched…): the same, with
      ``from_status = ''`` (empty string, never NULL): the rows ``(entity, '', to)``
      of the transition table are the legal starting states;
    * any other event: ``entity``, ``from_status`` and ``to_status`` all NULL.

    A foreign key does not check a row with a NULL column (MATCH SIMPLE, on both
    PostgreSQL and SQLite), so the CHECK ``ck_event_log_transition_complete``
    requires the three columns to be all NULL or all set: a creation written with
    ``from_status = NULL`` is refused instead of silently escaping the check.
    SQLite enforces the foreign key only with ``PRAGMA foreign_keys=ON``, which
    ``dispatch.db.make_engine`` sets on every connection.

PostgreSQL only
    ``CREATE EXTENSION IF NOT EXISTS postgis`` (needs a role allowed to create it,
    unless it is already installed); ``cell.geom geometry(MultiPolygon, 4326)`` and
    ``cases.geom geometry(Point, 4326)`` with GiST indexes; and a trigger that sets
    ``cases.geom`` from ``lon``/``lat`` on insert and on any update of them, so
    ``lon``/``lat`` stay the single source of truth and GIS tools can query
    ``geom``. The models do not know these columns (see
    ``dispatch.migrations.extra.POSTGIS_ONLY``). ``cell.geom`` is filled by whoever
    loads the cells.

``downgrade()`` drops all of it except the PostGIS extension itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

from dispatch.dbtypes import UTCDateTime

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: the legal (entity, from_status, to_status) moves; from_status "" = created
TRANSITION_ROWS: tuple[tuple[str, str, str], ...] = (
    ("case", "", "closed"),
    ("case", "", "dispatched"),
    ("case", "", "reported"),
    ("case", "closed", "dispatched"),
    ("case", "dispatched", "dispatched"),
    ("case", "dispatched", "rejected"),
    ("case", "dispatched", "verifying"),
    ("case", "reported", "closed"),
    ("case", "reported", "dispatched"),
    ("case", "reported", "rejected"),
    ("case", "verifying", "closed"),
    ("case", "verifying", "dispatched"),
    ("ticket", "", "dispatched"),
    ("ticket", "accepted", "cancelled"),
    ("ticket", "accepted", "in_progress"),
    ("ticket", "accepted", "resolved"),
    ("ticket", "accepted", "returned"),
    ("ticket", "dispatched", "accepted"),
    ("ticket", "dispatched", "cancelled"),
    ("ticket", "dispatched", "returned"),
    ("ticket", "in_progress", "cancelled"),
    ("ticket", "in_progress", "resolved"),
    ("ticket", "resolved", "cancelled"),
    ("ticket", "resolved", "in_progress"),
)

#: every table, parents first (downgrade drops them in reverse)
TABLES = (
    "area",
    "cell",
    "event_type",
    "unit",
    "team",
    "user_account",
    "auth_session",
    "cases",
    "idempotency_record",
    "report",
    "ticket",
    "transition",
    "event_log",
    "photo",
)

CASES_GEOM_FUNCTION = """
CREATE FUNCTION cases_set_geom() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.geom := ST_SetSRID(ST_MakePoint(NEW.lon, NEW.lat), 4326);
    RETURN NEW;
END
$$
"""
CASES_GEOM_TRIGGER = """
CREATE TRIGGER cases_set_geom BEFORE INSERT OR UPDATE OF lon, lat ON cases
    FOR EACH ROW EXECUTE FUNCTION cases_set_geom()
"""


def _str(length: int | None = None) -> sa.String:
    return sa.String(length)


def _time() -> UTCDateTime:
    return UTCDateTime()


def _enum(name: str, *values: str) -> sa.Enum:
    """A CHECK-constrained string, like ``dispatch.dbtypes.enum_column``."""
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=24)


def _indexes(table: str, *columns: str) -> None:
    """One plain index per column, named like SQLModel's ``index=True`` (ix_<table>_<col>)."""
    for column in columns:
        op.create_index(f"ix_{table}_{column}", table, [column])


def _fk(column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [target])


def _is_postgresql() -> bool:
    return op.get_context().dialect.name == "postgresql"


def upgrade() -> None:
    if _is_postgresql():
        op.execute("CREATE EXTENSION IF NOT EXISTS postgis")

    # --- reference data (dispatch.catalogue, dispatch.units) ---
    op.create_table(
        "area",
        sa.Column("code", _str(32), nullable=False),
        sa.Column("level", _str(16), nullable=False),
        sa.Column("name_zh", _str(), nullable=False),
        sa.Column("name_en", _str(), nullable=False),
        sa.Column("parent", _str(32), nullable=True),
        sa.Column("generated", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    _indexes("area", "parent")

    op.create_table(
        "cell",
        sa.Column("code", _str(32), nullable=False),
        sa.Column("community", _str(32), nullable=False),
        sa.Column("street", _str(32), nullable=False),
        sa.Column("district", _str(32), nullable=False),
        sa.Column("grid_version", _str(16), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    _indexes("cell", "community", "district", "street")

    op.create_table(
        "event_type",
        sa.Column("code", _str(16), nullable=False),
        sa.Column("standard", _str(), nullable=False),
        sa.Column("old_code", _str(), nullable=True),
        sa.Column("class_code", _str(8), nullable=False),
        sa.Column("class_zh", _str(), nullable=False),
        sa.Column("class_en", _str(), nullable=False),
        sa.Column("name_zh", _str(), nullable=False),
        sa.Column("name_en", _str(), nullable=False),
        sa.Column("accept_limit", sa.Float(), nullable=False),
        sa.Column("resolve_limit", sa.Float(), nullable=False),
        sa.Column("verify_limit", sa.Float(), nullable=False),
        sa.Column("limit_unit", _str(16), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("focus", sa.Boolean(), nullable=False),
        sa.Column("icon", _str(), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    _indexes("event_type", "class_code")

    op.create_table(
        "unit",
        sa.Column("id", _str(48), nullable=False),
        sa.Column("kind", _str(16), nullable=False),
        sa.Column("area_code", _str(32), nullable=False),
        sa.Column("name_zh", _str(), nullable=False),
        sa.Column("name_en", _str(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    _indexes("unit", "area_code", "kind")

    op.create_table(
        "team",
        sa.Column("id", _str(64), nullable=False),
        sa.Column("unit_id", _str(48), nullable=False),
        sa.Column("name_zh", _str(), nullable=False),
        sa.Column("name_en", _str(), nullable=False),
        _fk("unit_id", "unit.id"),
        sa.PrimaryKeyConstraint("id"),
    )
    _indexes("team", "unit_id")

    # --- accounts (dispatch.auth) ---
    op.create_table(
        "user_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", _str(64), nullable=False),
        sa.Column("password_hash", _str(), nullable=False),
        sa.Column(
            "role",
            _enum("role", "worker", "team", "dispatcher", "commander", "admin"),
            nullable=False,
        ),
        sa.Column("display_name", _str(), nullable=False),
        sa.Column("unit_id", _str(48), nullable=True),
        sa.Column("team_id", _str(64), nullable=True),
        sa.Column("area_prefix", _str(32), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        _fk("team_id", "team.id"),
        _fk("unit_id", "unit.id"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )

    op.create_table(
        "auth_session",
        sa.Column("token_hash", _str(64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("expires_at", _time(), nullable=False),
        sa.Column("revoked_at", _time(), nullable=True),
        _fk("user_id", "user_account.id"),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    _indexes("auth_session", "user_id")

    # --- cases and reports (dispatch.cases) ---
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_no", _str(32), nullable=False),
        sa.Column("event_type", _str(16), nullable=False),
        sa.Column(
            "status",
            _enum("case_status", "reported", "dispatched", "verifying", "closed", "rejected"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("input_crs", _str(16), nullable=False),
        sa.Column("input_lon", sa.Float(), nullable=False),
        sa.Column("input_lat", sa.Float(), nullable=False),
        sa.Column("accuracy_m", sa.Float(), nullable=True),
        sa.Column("near_edge", sa.Boolean(), nullable=False),
        sa.Column("snapped_m", sa.Float(), nullable=False),
        sa.Column("cell", _str(32), nullable=False),
        sa.Column("community", _str(32), nullable=False),
        sa.Column("street", _str(32), nullable=False),
        sa.Column("district", _str(32), nullable=False),
        sa.Column("grid_version", _str(16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("reporter_id", sa.Integer(), nullable=False),
        sa.Column("routing_rule", _str(), nullable=True),
        sa.Column("self_handled", sa.Boolean(), nullable=False),
        sa.Column("report_count", sa.Integer(), nullable=False),
        sa.Column("rework_count", sa.Integer(), nullable=False),
        sa.Column("reject_reason", _str(), nullable=True),
        sa.Column("captured_at", _time(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("dispatched_at", _time(), nullable=True),
        sa.Column("resolved_at", _time(), nullable=True),
        sa.Column("verify_due", _time(), nullable=True),
        sa.Column("closed_at", _time(), nullable=True),
        sa.Column("updated_at", _time(), nullable=False),
        sa.Column("closed_by", sa.Integer(), nullable=True),
        _fk("cell", "cell.code"),
        _fk("closed_by", "user_account.id"),
        _fk("event_type", "event_type.code"),
        _fk("reporter_id", "user_account.id"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_no"),
    )
    _indexes(
        "cases",
        "cell",
        "created_at",
        "district",
        "event_type",
        "reporter_id",
        "status",
        "updated_at",
    )

    op.create_table(
        "idempotency_record",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("key", _str(255), nullable=False),
        sa.Column("fingerprint", _str(64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        _fk("user_id", "user_account.id"),
        sa.PrimaryKeyConstraint("user_id", "key"),
    )

    op.create_table(
        "report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("reporter_id", sa.Integer(), nullable=False),
        sa.Column("client_key", _str(255), nullable=False),
        sa.Column("joined_existing", sa.Boolean(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("input_crs", _str(16), nullable=False),
        sa.Column("input_lon", sa.Float(), nullable=False),
        sa.Column("input_lat", sa.Float(), nullable=False),
        sa.Column("accuracy_m", sa.Float(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("captured_at", _time(), nullable=False),
        sa.Column("received_at", _time(), nullable=False),
        _fk("case_id", "cases.id"),
        _fk("reporter_id", "user_account.id"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reporter_id", "client_key", name="uq_report_client_key"),
    )
    _indexes("report", "case_id")

    # --- tickets (dispatch.tickets) ---
    op.create_table(
        "ticket",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", _str(48), nullable=False),
        sa.Column("role", _enum("ticket_role", "lead", "support"), nullable=False),
        sa.Column(
            "status",
            _enum(
                "ticket_status",
                "dispatched",
                "accepted",
                "in_progress",
                "resolved",
                "returned",
                "cancelled",
            ),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("team_id", _str(64), nullable=True),
        sa.Column("accepted_by", sa.Integer(), nullable=True),
        sa.Column("resolved_by", sa.Integer(), nullable=True),
        sa.Column("dispatched_at", _time(), nullable=False),
        sa.Column("accept_due", _time(), nullable=False),
        sa.Column("resolve_due", _time(), nullable=False),
        sa.Column("accepted_at", _time(), nullable=True),
        sa.Column("started_at", _time(), nullable=True),
        sa.Column("resolved_at", _time(), nullable=True),
        sa.Column("returned_at", _time(), nullable=True),
        sa.Column("return_reason", sa.Text(), nullable=True),
        sa.Column("resolution_note", sa.Text(), nullable=True),
        sa.Column("rework_count", sa.Integer(), nullable=False),
        sa.Column("accept_escalated_at", _time(), nullable=True),
        sa.Column("resolve_escalated_at", _time(), nullable=True),
        sa.Column("updated_at", _time(), nullable=False),
        _fk("accepted_by", "user_account.id"),
        _fk("case_id", "cases.id"),
        _fk("resolved_by", "user_account.id"),
        _fk("team_id", "team.id"),
        _fk("unit_id", "unit.id"),
        sa.PrimaryKeyConstraint("id"),
    )
    _indexes("ticket", "accept_due", "case_id", "resolve_due", "status", "unit_id")

    # --- the workflow and the event log (dispatch.feed) ---
    transition = op.create_table(
        "transition",
        sa.Column("entity", _str(8), nullable=False),
        sa.Column("from_status", _str(24), nullable=False),
        sa.Column("to_status", _str(24), nullable=False),
        sa.PrimaryKeyConstraint("entity", "from_status", "to_status"),
    )
    op.bulk_insert(
        transition,
        [{"entity": e, "from_status": f, "to_status": t} for e, f, t in TRANSITION_ROWS],
    )

    op.create_table(
        "event_log",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("type", _str(40), nullable=False),
        sa.Column("at", _time(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("unit_id", _str(48), nullable=True),
        sa.Column("entity", _str(8), nullable=True),
        sa.Column("from_status", _str(24), nullable=True),
        sa.Column("to_status", _str(24), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        _fk("actor_id", "user_account.id"),
        _fk("case_id", "cases.id"),
        _fk("ticket_id", "ticket.id"),
        sa.ForeignKeyConstraint(
            ["entity", "from_status", "to_status"],
            ["transition.entity", "transition.from_status", "transition.to_status"],
            name="fk_event_log_transition",
        ),
        sa.CheckConstraint(
            "(entity IS NULL AND from_status IS NULL AND to_status IS NULL)"
            " OR (entity IS NOT NULL AND from_status IS NOT NULL AND to_status IS NOT NULL)",
            name="ck_event_log_transition_complete",
        ),
        sa.PrimaryKeyConstraint("seq"),
    )
    _indexes("event_log", "case_id", "ticket_id", "type")

    # --- photos (dispatch.photos) ---
    op.create_table(
        "photo",
        sa.Column("id", _str(32), nullable=False),
        sa.Column("sha256", _str(64), nullable=False),
        sa.Column("content_type", _str(32), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("uploaded_by", sa.Integer(), nullable=False),
        sa.Column("uploaded_at", _time(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column(
            "kind", _enum("photo_kind", "report", "before", "after", "verify"), nullable=True
        ),
        sa.Column("public", sa.Boolean(), nullable=False),
        _fk("case_id", "cases.id"),
        _fk("ticket_id", "ticket.id"),
        _fk("uploaded_by", "user_account.id"),
        sa.PrimaryKeyConstraint("id"),
    )
    _indexes("photo", "case_id", "sha256", "ticket_id", "uploaded_by")

    if _is_postgresql():
        _upgrade_postgis()


def _upgrade_postgis() -> None:
    """Geometry columns (not in the models), their GiST indexes, the cases.geom trigger."""
    op.add_column(
        "cell",
        sa.Column("geom", Geometry("MULTIPOLYGON", srid=4326, spatial_index=False)),
    )
    op.create_index("idx_cell_geom", "cell", ["geom"], postgresql_using="gist")
    op.add_column(
        "cases",
        sa.Column("geom", Geometry("POINT", srid=4326, spatial_index=False)),
    )
    op.create_index("idx_cases_geom", "cases", ["geom"], postgresql_using="gist")
    op.execute(CASES_GEOM_FUNCTION)
    op.execute(CASES_GEOM_TRIGGER)


def downgrade() -> None:
    if _is_postgresql():
        op.execute("DROP TRIGGER IF EXISTS cases_set_geom ON cases")
        op.execute("DROP FUNCTION IF EXISTS cases_set_geom()")
    for table in reversed(TABLES):
        op.drop_table(table)  # its indexes and constraints go with it

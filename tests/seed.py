"""Minimal database rows for tests that work below the API (escalation, migrations)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine

from dispatch.auth.models import User
from dispatch.cases.models import Case
from dispatch.catalogue.models import Cell, EventType, GridVersion
from dispatch.db import transaction
from dispatch.dbtypes import utcnow
from dispatch.enums import CaseStatus, Role
from dispatch.units.models import Unit

UNIT = "NN-CG-450103"


def seed_case(
    engine: Engine,
    *,
    status: CaseStatus = CaseStatus.dispatched,
    lon: float = 108.3,
    lat: float = 22.8,
    captured_at: datetime | None = None,
) -> int:
    """The rows a ticket needs: event type, unit, reporter, cell and case. Returns the case id."""
    with transaction(engine) as s:
        s.add(
            EventType(
                code="06010",
                standard="GB/T 47678.5-2026",
                class_code="06",
                class_zh="市容环境",
                class_en="City appearance",
                name_zh="暴露垃圾",
                name_en="Exposed garbage",
                accept_limit=1,
                resolve_limit=4,
                verify_limit=1,
                limit_unit="work_hours",
            )
        )
        s.add(
            Unit(
                id=UNIT,
                kind="chengguan",
                area_code="450103",
                name_zh="青秀区城管",
                name_en="Qingxiu chengguan",
            )
        )
        now = utcnow()
        version = GridVersion(
            checksum="test", source="seed", cells=1, loaded_at=now, valid_from=now
        )
        s.add(version)
        s.flush()
        assert version.id is not None
        s.add(
            Cell(
                code="45010300100101",
                community="450103001001",
                street="450103001",
                district="450103",
                grid_version=version.id,
                lon=108.3,
                lat=22.8,
            )
        )
        reporter = User(username="worker1", password_hash="x", role=Role.worker)
        s.add(reporter)
        s.flush()
        assert reporter.id is not None
        case = Case(
            case_no="NN2026031600001",
            event_type="06010",
            status=status,
            lon=lon,
            lat=lat,
            input_lon=lon,
            input_lat=lat,
            cell="45010300100101",
            community="450103001001",
            street="450103001",
            district="450103",
            grid_version=version.id,
            reporter_id=reporter.id,
            captured_at=captured_at or utcnow() - timedelta(days=1),
        )
        s.add(case)
        s.flush()
        assert case.id is not None
        return case.id

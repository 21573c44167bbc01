"""Who is calling, and what they may see. Pure: checked on every object by every service."""

from __future__ import annotations

from dataclasses import dataclass

from dispatch.enums import Role


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    username: str
    role: Role
    unit_id: str | None = None
    team_id: str | None = None
    area_prefix: str | None = None

    @property
    def sees_city(self) -> bool:
        return self.role in (Role.dispatcher, Role.commander, Role.admin)

    def may_see_case(self, *, reporter_id: int, cell: str, unit_ids: set[str]) -> bool:
        """Workers: own reports and cases in their beat; teams: cases with their unit's ticket."""
        if self.sees_city:
            return True
        if self.role is Role.worker:
            return reporter_id == self.user_id or (
                self.area_prefix is not None and cell.startswith(self.area_prefix)
            )
        if self.role is Role.team:
            return self.unit_id is not None and self.unit_id in unit_ids
        return False

    def may_see_ticket(self, *, unit_id: str) -> bool:
        return self.sees_city or (self.role is Role.team and self.unit_id == unit_id)

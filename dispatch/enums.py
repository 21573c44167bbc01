"""Enumerations stored in the database (as CHECK-constrained strings) and used in rules."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    worker = "worker"  # 网格员: reports and verifies
    team = "team"  # member of an enforcement unit's team (专业部门)
    dispatcher = "dispatcher"  # 派遣员/值班长: registers, dispatches, re-routes, closes
    commander = "commander"  # command center: sees the whole city, read only
    admin = "admin"


class CaseStatus(StrEnum):
    reported = "reported"  # 信息收集: waiting for 立案
    dispatched = "dispatched"  # 立案 + 派遣 done: units at work
    verifying = "verifying"  # every required ticket resolved: waiting for 核查
    closed = "closed"  # 结案
    rejected = "rejected"  # 不予立案 / 作废


class TicketStatus(StrEnum):
    dispatched = "dispatched"  # sent to the unit, not yet 签收
    accepted = "accepted"  # 签收
    in_progress = "in_progress"  # 到场/处置中
    resolved = "resolved"  # 处置完毕, with after-photos
    returned = "returned"  # 回退: not this unit's case
    cancelled = "cancelled"  # case rejected or re-routed


class TicketRole(StrEnum):
    lead = "lead"  # 主办
    support = "support"  # 协办


class PhotoKind(StrEnum):
    report = "report"  # taken by the reporter
    before = "before"  # self-handling: before the fix
    after = "after"  # after the fix (team resolution or self-handling)
    verify = "verify"  # taken by the checker during 核查

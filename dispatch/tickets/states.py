"""The workflow as data: who may move a ticket or a case from which state to which.

Pure: no I/O, no framework. Services look a move up here before they write, and the
write itself is guarded by the same ``from`` states and the row's version, so a move
that races another fails in the database, not just in Python.
"""

from __future__ import annotations

from dataclasses import dataclass

from dispatch.enums import CaseStatus, Role, TicketStatus
from dispatch.errors import Forbidden, InvalidTransition

T = TicketStatus
C = CaseStatus


@dataclass(frozen=True)
class Move:
    action: str
    sources: frozenset[str]
    target: str
    roles: frozenset[Role]
    event: str


def _move(action: str, sources: set[str], target: str, roles: set[Role], event: str) -> Move:
    return Move(action, frozenset(sources), target, frozenset(roles), event)


TEAM = {Role.team}
DISPATCH = {Role.dispatcher, Role.admin}
SYSTEM: set[Role] = set()  # moves made by the service itself (intake, verification)

TICKET_MOVES: dict[str, Move] = {
    m.action: m
    for m in (
        _move("accept", {T.dispatched}, T.accepted, TEAM, "ticket.accepted"),  # 签收
        _move("start", {T.accepted}, T.in_progress, TEAM, "ticket.started"),  # 到场/处置
        _move("resolve", {T.accepted, T.in_progress}, T.resolved, TEAM, "ticket.resolved"),
        _move("return", {T.dispatched, T.accepted}, T.returned, TEAM, "ticket.returned"),  # 回退
        _move("rework", {T.resolved}, T.in_progress, SYSTEM, "ticket.reworked"),  # 返工
        _move(
            "cancel",
            {T.dispatched, T.accepted, T.in_progress, T.resolved},
            T.cancelled,
            DISPATCH,
            "ticket.cancelled",
        ),
    )
}

#: 延期 (an approved extension): a new resolve due for a ticket still being worked, set by the
#: dispatcher before the old one has passed. Not a status move: the ticket keeps its state.
EXTEND_FROM = frozenset({T.dispatched, T.accepted, T.in_progress})
EXTEND_ROLES = frozenset(DISPATCH)
EXTEND_EVENT = "ticket.extended"

CASE_MOVES: dict[str, Move] = {
    m.action: m
    for m in (
        _move("dispatch", {C.reported}, C.dispatched, DISPATCH, "case.dispatched"),  # 立案+派遣
        _move("reject", {C.reported, C.dispatched}, C.rejected, DISPATCH, "case.rejected"),
        _move("await_verification", {C.dispatched}, C.verifying, SYSTEM, "case.resolved"),
        _move("verify_pass", {C.verifying}, C.closed, {Role.worker}, "case.closed"),  # 结案
        _move("verify_fail", {C.verifying}, C.dispatched, {Role.worker}, "case.reworked"),
        _move("reopen", {C.closed, C.verifying}, C.dispatched, DISPATCH, "case.reopened"),
        _move("reassign", {C.dispatched, C.verifying}, C.dispatched, DISPATCH, "case.reassigned"),
    )
}

#: (entity, from, to) triples the database accepts in the event log (seeded by migration)
TRANSITIONS: frozenset[tuple[str, str, str]] = frozenset(
    {("ticket", s, m.target) for m in TICKET_MOVES.values() for s in m.sources}
    | {("case", s, m.target) for m in CASE_MOVES.values() for s in m.sources}
    | {("ticket", "", T.dispatched), ("case", "", C.reported), ("case", "", C.dispatched)}
    | {("case", "", C.closed), ("case", C.reported, C.closed)}  # self-handled (自处理)
)

TERMINAL_TICKET = frozenset({T.returned, T.cancelled})
OPEN_CASE = frozenset({C.reported, C.dispatched, C.verifying})


def check_move(moves: dict[str, Move], action: str, current: str, role: Role | None) -> Move:
    """The move for ``action`` from ``current`` by ``role``; raise if it is not allowed.

    ``role=None`` means the service itself (system moves need no role).
    """
    move = moves.get(action)
    if move is None:
        raise InvalidTransition(f"unknown action {action!r}")
    if role is not None and move.roles and role not in move.roles:
        raise Forbidden(f"a {role.value} may not {action}")
    if role is not None and not move.roles:
        raise Forbidden(f"{action} is done by the system, not by a user")
    if current not in move.sources:
        raise InvalidTransition(
            f"cannot {action} from {current}",
            details={"status": current, "allowed_from": sorted(move.sources)},
        )
    return move


def case_ready_for_verification(tickets: list[tuple[str, str]]) -> bool:
    """Every live ticket resolved, and a resolved lead among them (joint cases wait for all).

    ``tickets`` are ``(role, status)`` pairs. Returned and cancelled tickets do not count:
    a returned lead leaves the case waiting until the dispatcher re-routes it.
    """
    live = [(r, s) for r, s in tickets if s not in TERMINAL_TICKET]
    return (
        bool(live) and all(s == T.resolved for _, s in live) and any(r == "lead" for r, _ in live)
    )

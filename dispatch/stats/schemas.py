"""API shapes of the evaluation figures: the query, one row of figures, a whole table."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dispatch.stats.figures import COUNTS, RATES, STEPS

View = Literal["units", "areas", "event-types", "days"]
#: the longest period one request may cover (a figure table over ten years is a mistake)
MAX_DAYS = 3700
CODE_PATTERN = r"^[0-9A-Za-z-]*$"


class StatsQuery(BaseModel):
    """``from``/``to`` are local calendar days, both included; ``area`` an area-code prefix."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    first: date = Field(alias="from")
    last: date = Field(alias="to")
    area: str = Field(default="", max_length=32, pattern=CODE_PATTERN)
    unit: str | None = Field(default=None, min_length=1, max_length=48, pattern=CODE_PATTERN)
    event_class: str | None = Field(
        default=None, min_length=1, max_length=8, pattern=CODE_PATTERN, alias="class"
    )

    @model_validator(mode="after")
    def _period(self) -> StatsQuery:
        if self.last < self.first:
            raise ValueError("'to' is before 'from'")
        if (self.last - self.first).days >= MAX_DAYS:
            raise ValueError(f"a period may cover at most {MAX_DAYS} days")
        return self


class StepOut(BaseModel):
    n: int
    avg_s: float | None
    p90_s: float | None


class FigureRow(BaseModel):
    """The figures of one unit, area, event type, class or day (or of the whole scope)."""

    key: str
    name_zh: str
    name_en: str
    #: for event types: the class code; for areas: the level
    group: str | None = None
    counts: dict[str, int]
    rates: dict[str, float | None]
    steps: dict[str, StepOut]
    #: live tickets past their resolve due at the time of the request (not a period figure)
    overdue_now: int | None = None
    score: float | None = None
    rank: int | None = None


class Label(BaseModel):
    key: str
    zh: str
    en: str


class Labels(BaseModel):
    counts: list[Label]
    rates: list[Label]
    steps: list[Label]


def labels() -> Labels:
    return Labels(
        counts=[Label(key=c.key, zh=c.zh, en=c.en) for c in COUNTS],
        rates=[Label(key=r.key, zh=r.zh, en=r.en) for r in RATES],
        steps=[Label(key=s.key, zh=s.zh, en=s.en) for s in STEPS],
    )


class FigureTable(BaseModel):
    """One view of the figures: its scope, the rows, and their total."""

    model_config = ConfigDict(populate_by_name=True)

    view: View
    first: date = Field(serialization_alias="from")
    last: date = Field(serialization_alias="to")
    area: str
    area_name_zh: str
    area_name_en: str
    unit: str | None
    event_class: str | None = Field(serialization_alias="class")
    #: the time of the request; overdue_now is counted at this moment
    as_of: datetime
    #: the last day whose figures are final (sealed), and when the newest day was computed
    sealed_through: date | None
    rolled_up_at: datetime | None
    weights: dict[str, float] | None = None
    rows: list[FigureRow]
    total: FigureRow | None
    labels: Labels

"""Per-type extra questions (Open311 service definitions): city data, and checking answers.

The questions are data (``grid_data/<city>/questions.csv`` and ``question_values.csv``),
read and checked strictly at start-up like the rest of the city folder. Checking an
answer is pure: no database, no web framework.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType

from dispatch.citydata import CityDataError
from dispatch.citydata import _Rows as Rows  # the city loader's strict CSV reader
from dispatch.open311.params import parse_datetime

LIST_TYPES = frozenset({"singlevaluelist", "multivaluelist"})
#: the spec's six datatypes, and how many characters a free answer may have
MAX_CHARS: Mapping[str, int] = MappingProxyType(
    {"string": 200, "number": 32, "datetime": 40, "text": 2000}
)
DATATYPES = frozenset({*MAX_CHARS, *LIST_TYPES})
QUESTIONS_FILE = "questions.csv"
VALUES_FILE = "question_values.csv"
_CODE = re.compile(r"[a-z][a-z0-9_]{0,31}")
_KEY = re.compile(r"[A-Za-z0-9_.-]{1,32}")
_ORDER = re.compile(r"[1-9][0-9]{0,2}")
_DATATYPE = re.compile("|".join(sorted(DATATYPES)))
_QUESTION_COLUMNS = (
    "event_type,code,order,datatype,required,variable,description_zh,description_en,"
    "hint_zh,hint_en,source"
)

Answer = str | list[str]


@dataclass(frozen=True, slots=True)
class Choice:
    key: str
    name_zh: str
    name_en: str

    def name(self, lang: str) -> str:
        return self.name_en if lang == "en" else self.name_zh


@dataclass(frozen=True, slots=True)
class Question:
    """One attribute of a service definition. ``variable=False`` is a notice, not a question."""

    event_type: str
    code: str
    order: int
    datatype: str
    required: bool
    variable: bool
    description_zh: str
    description_en: str
    hint_zh: str = ""
    hint_en: str = ""
    source: str = ""
    choices: tuple[Choice, ...] = ()

    def description(self, lang: str) -> str:
        return self.description_en if lang == "en" else self.description_zh

    def hint(self, lang: str) -> str:
        return self.hint_en if lang == "en" else self.hint_zh


@dataclass(frozen=True)
class ServiceCatalogue:
    """The questions of each event type (in order) and when the catalogue last changed."""

    questions: Mapping[str, tuple[Question, ...]] = field(default_factory=dict)
    #: ISO 8601 UTC time of the newest catalogue file: discovery's sortable changeset
    changeset: str = "1970-01-01T00:00:00Z"

    def of(self, event_type: str) -> tuple[Question, ...]:
        return self.questions.get(event_type, ())


def load_catalogue(root: Path, event_types: Collection[str]) -> ServiceCatalogue:
    """Read the city's questions; a city without ``questions.csv`` simply has none."""
    files = [root / "event_types.csv", root / QUESTIONS_FILE, root / VALUES_FILE]
    newest = max((f.stat().st_mtime for f in files if f.is_file()), default=0.0)
    changeset = datetime.fromtimestamp(newest, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if not (root / QUESTIONS_FILE).is_file():
        return ServiceCatalogue({}, changeset)
    questions = _load_questions(root, event_types)
    choices = _load_choices(root, questions) if (root / VALUES_FILE).is_file() else {}
    by_type: dict[str, list[Question]] = {}
    for (event, code), q in questions.items():
        q = replace(q, choices=tuple(choices.get((event, code), ())))
        if (q.datatype in LIST_TYPES) != bool(q.choices):
            need = "needs values" if q.datatype in LIST_TYPES else "may not have values"
            raise CityDataError(VALUES_FILE, None, f"{event} {code}: a {q.datatype} {need}")
        by_type.setdefault(event, []).append(q)
    ordered = {e: tuple(sorted(qs, key=lambda q: q.order)) for e, qs in by_type.items()}
    return ServiceCatalogue(MappingProxyType(ordered), changeset)


def _load_questions(root: Path, event_types: Collection[str]) -> dict[tuple[str, str], Question]:
    rows = Rows(root, QUESTIONS_FILE, _QUESTION_COLUMNS)
    out: dict[tuple[str, str], Question] = {}
    for row in rows:
        event = row["event_type"]
        if event not in event_types:
            raise rows.fail(f"unknown event type {event!r}")
        code = rows.match(row, "code", _CODE, "a lower-case code of at most 32 characters")
        rows.unique(f"{event} {code}", "question")
        order = int(rows.match(row, "order", _ORDER, "a positive order number"))
        rows.unique(f"{event} #{order}", "order")
        required, variable = rows.flag(row, "required"), rows.flag(row, "variable")
        if required and not variable:
            raise rows.fail("a notice (variable=0) cannot be required")
        out[event, code] = Question(
            event_type=event,
            code=code,
            order=order,
            datatype=rows.match(row, "datatype", _DATATYPE, f"one of {sorted(DATATYPES)}"),
            required=required,
            variable=variable,
            description_zh=rows.text(row, "description_zh"),
            description_en=rows.text(row, "description_en"),
            hint_zh=row["hint_zh"],
            hint_en=row["hint_en"],
            source=rows.text(row, "source"),
        )
    return out


def _load_choices(
    root: Path, questions: Mapping[tuple[str, str], Question]
) -> dict[tuple[str, str], list[Choice]]:
    rows = Rows(root, VALUES_FILE, "event_type,code,key,name_zh,name_en")
    out: dict[tuple[str, str], list[Choice]] = {}
    for row in rows:
        which = (row["event_type"], row["code"])
        if which not in questions:
            raise rows.fail(f"no question {which[1]!r} for event type {which[0]!r}")
        key = rows.match(row, "key", _KEY, "a key of letters, digits, _ . -")
        rows.unique(f"{which} {key}", "value key")
        out.setdefault(which, []).append(Choice(key, *rows.names(row)))
    return out


# ---------------------------------------------------------------- answers


def check_answers(
    questions: Sequence[Question], raw: Mapping[str, Sequence[str]]
) -> tuple[dict[str, Answer], list[str]]:
    """The normalised answers by code, and one message per problem (empty when all is well).

    Empty values count as absent; answers to notices and to unknown codes are ignored.
    """
    answers: dict[str, Answer] = {}
    problems: list[str] = []
    for q in questions:
        if not q.variable:
            continue
        values = [v.strip() for v in raw.get(q.code, ()) if v.strip()]
        label = f"attribute[{q.code}] ({q.description_zh})"
        if not values:
            if q.required:
                problems.append(f"{label} is required")
            continue
        try:
            answers[q.code] = _normalise(q, values)
        except ValueError as exc:
            problems.append(f"{label}: {exc}")
    return answers, problems


def _normalise(q: Question, values: list[str]) -> Answer:
    if q.datatype == "multivaluelist":
        keys = [c.key for c in q.choices]
        unknown = [v for v in values if v not in keys]
        if unknown:
            raise ValueError(f"{', '.join(unknown)} not among {', '.join(keys)}")
        return [k for k in keys if k in values]  # catalogue order, each once
    if len(values) > 1:
        raise ValueError("takes one value")
    value = values[0]
    if "\x00" in value:
        raise ValueError("contains a NUL character")
    if q.datatype == "singlevaluelist":
        keys = [c.key for c in q.choices]
        if value not in keys:
            raise ValueError(f"{value!r} is not one of {', '.join(keys)}")
        return value
    if len(value) > MAX_CHARS[q.datatype]:
        raise ValueError(f"at most {MAX_CHARS[q.datatype]} characters")
    if q.datatype == "number":
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a number") from None
        if not math.isfinite(number):
            raise ValueError(f"{value!r} is not a finite number")
    elif q.datatype == "datetime":
        return parse_datetime(value).isoformat().replace("+00:00", "Z")
    return value


def summary_zh(questions: Sequence[Question], answers: Mapping[str, Answer]) -> str:
    """The answers as one line of Chinese, appended to the case description for the teams.

    Always Chinese (never the caller's language): the same POST must give the same text.
    """
    parts = []
    for q in questions:
        if q.code not in answers:
            continue
        value = answers[q.code]
        names = {c.key: c.name_zh for c in q.choices}
        shown = "、".join(names.get(v, v) for v in ([value] if isinstance(value, str) else value))
        parts.append(f"{q.description_zh.removesuffix('（可多选）')}：{shown}")
    return "【补充信息】" + "；".join(parts) if parts else ""

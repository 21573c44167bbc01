"""Discovery, the service list and service definitions: documents of the loaded city.

Services are the event types of the catalogue (管理事项): code, name in the caller's
language, group = event class; a type with questions has ``metadata: true`` and its
questions as the service definition's attributes. Nothing here touches the database.
"""

from __future__ import annotations

from typing import Any

from dispatch.catalogue.views import event_type_groups
from dispatch.citydata import LOCAL_STANDARD, EventType
from dispatch.errors import NotFound
from dispatch.open311.questions import Question
from dispatch.open311.render import FORMATS
from dispatch.state import AppState

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
LIMIT_UNITS = {
    "zh": {"work_hours": "工作小时", "work_days": "个工作日", "minutes": "分钟"},
    "en": {"work_hours": "working hours", "work_days": "working days", "minutes": "minutes"},
}


def discovery(state: AppState, endpoint_url: str) -> dict[str, Any]:
    s = state.settings
    changeset = state.services.changeset
    return {
        "changeset": changeset,
        "contact": s.open311_contact,
        "key_service": (
            "API keys are issued per client by the operator of this service "
            f"(griddispatch open311-key create NAME); ask: {s.open311_contact}"
        ),
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": endpoint_url,
                "changeset": changeset,
                "type": s.open311_endpoint_type,
                "formats": [FORMATS["xml"].split(";")[0], FORMATS["json"].split(";")[0]],
            }
        ],
    }


def service_list(state: AppState, lang: str) -> list[dict[str, Any]]:
    """Every event type, by class, focus problems first (as the app's catalogue)."""
    types = state.city.event_types
    return [
        _service(types[t["code"]], bool(state.services.of(t["code"])), lang)
        for group in event_type_groups(state.city)
        for t in group["types"]
    ]


def _service(et: EventType, metadata: bool, lang: str) -> dict[str, Any]:
    en = lang == "en"
    group = et.class_en if en else et.class_zh
    keywords = [group]
    if et.urgent:
        keywords.append("urgent" if en else "紧急")
    if et.focus:
        keywords.append("focus problem" if en else "重点问题")
    return {
        "service_code": et.code,
        "service_name": et.name_en if en else et.name_zh,
        "description": _description(et, lang),
        "metadata": metadata,
        "type": "realtime",
        "keywords": ",".join(keywords),
        "group": group,
    }


def _description(et: EventType, lang: str) -> str:
    limit = f"{et.resolve_limit:g} {LIMIT_UNITS[lang][et.limit_unit]}"
    if lang == "en":
        standard = "local type" if et.standard == LOCAL_STANDARD else et.standard
        return f"{et.name_en} ({standard} {et.code}); to be resolved within {limit}."
    standard = "本地扩展事项" if et.standard == LOCAL_STANDARD else et.standard
    return f"{et.name_zh}（{standard} {et.code}），处置时限 {limit}。"


def service_definition(state: AppState, code: str, lang: str) -> dict[str, Any]:
    """The type's questions as attributes; a type without questions has none (still 200)."""
    if code not in state.city.event_types:
        raise NotFound(f"service_code {code!r} not found")
    return {
        "service_code": code,
        "attributes": [_attribute(q, lang) for q in state.services.of(code)],
    }


def _attribute(q: Question, lang: str) -> dict[str, Any]:
    return {
        "variable": q.variable,
        "code": q.code,
        "datatype": q.datatype,
        "required": q.required,
        "datatype_description": q.hint(lang) or None,
        "order": q.order,
        "description": q.description(lang),
        "values": [{"key": c.key, "name": c.name(lang)} for c in q.choices],
    }

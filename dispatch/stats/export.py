"""Figure tables as downloads: CSV (UTF-8 with BOM, so Excel reads the Chinese) and XLSX.

One column list serves both. Headers are Chinese first with the English after; rates are
percentages in CSV and true fractions formatted as percent in XLSX; step times are hours.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC
from typing import Any, Literal

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from dispatch.stats.figures import COUNTS, RATES, STEPS
from dispatch.stats.schemas import FigureRow, FigureTable

Kind = Literal["text", "int", "rate", "hours", "score"]

SHEET_TITLES = {
    "units": "单位 Units",
    "areas": "区域 Areas",
    "event-types": "事件类型 Event types",
    "days": "每日 Days",
}


@dataclass(frozen=True, slots=True)
class Column:
    zh: str
    en: str
    kind: Kind
    get: Any  # FigureRow -> value

    def header(self) -> str:
        return f"{self.zh} ({self.en})"


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else seconds / 3600


def columns(table: FigureTable) -> list[Column]:
    cols = [
        Column("编码", "Code", "text", lambda r: r.key),
        Column("名称", "Name", "text", lambda r: r.name_zh),
        Column("英文名称", "Name (English)", "text", lambda r: r.name_en),
    ]
    if table.view == "event-types":
        cols.append(Column("类别", "Class", "text", lambda r: r.group or ""))
    if table.view == "areas":
        cols.append(Column("层级", "Level", "text", lambda r: r.group or ""))
    if table.view == "units":
        cols.append(Column("排名", "Rank", "int", lambda r: r.rank))
        cols.append(Column("综合得分", "Score", "score", lambda r: r.score))
    for c in COUNTS:
        cols.append(Column(c.zh, c.en, "int", lambda r, k=c.key: r.counts[k]))
    for rate in RATES:
        cols.append(Column(rate.zh, rate.en, "rate", lambda r, k=rate.key: r.rates[k]))
    for st in STEPS:
        cols.append(
            Column(
                f"{st.zh}均值(小时)",
                f"{st.en}, average (h)",
                "hours",
                lambda r, k=st.key: _hours(r.steps[k].avg_s),
            )
        )
        cols.append(
            Column(
                f"{st.zh}P90(小时)",
                f"{st.en}, p90 (h)",
                "hours",
                lambda r, k=st.key: _hours(r.steps[k].p90_s),
            )
        )
    if table.view != "days":
        cols.append(Column("当前超期", "Overdue now", "int", lambda r: r.overdue_now))
    return cols


def _rows(table: FigureTable) -> list[FigureRow]:
    rows = list(table.rows)
    if table.total is not None:
        rows.append(table.total.model_copy(update={"name_zh": "合计", "name_en": "Total"}))
    return rows


def to_csv(table: FigureTable) -> bytes:
    cols = columns(table)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow([c.header() + (" %" if c.kind == "rate" else "") for c in cols])
    for row in _rows(table):
        values = []
        for c in cols:
            v = c.get(row)
            if v is None:
                values.append("")
            elif c.kind == "rate":
                values.append(f"{v * 100:.2f}")
            elif c.kind in ("hours", "score"):
                values.append(f"{v:.2f}")
            else:
                values.append(v)
        w.writerow(values)
    return out.getvalue().encode("utf-8-sig")


def to_xlsx(table: FigureTable) -> bytes:
    """Row 1: Chinese headers; row 2: English; the data below, the total last."""
    cols = columns(table)
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = SHEET_TITLES[table.view]
    ws.append([c.zh for c in cols])
    ws.append([c.en for c in cols])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for cell in ws[2]:
        cell.font = Font(italic=True, color="666666")
    formats = {"rate": "0.00%", "hours": "0.00", "score": "0.00"}
    for row in _rows(table):
        ws.append([c.get(row) for c in cols])
        for cell, c in zip(ws[ws.max_row], cols, strict=True):
            if c.kind in formats:
                cell.number_format = formats[c.kind]
    if table.total is not None:
        for cell in ws[ws.max_row]:
            cell.font = Font(bold=True)
    ws.freeze_panes = "B3"
    for i, c in enumerate(cols, 1):
        ws.column_dimensions[get_column_letter(i)].width = max(10, min(30, 2 * len(c.zh) + 4))
    notes = wb.create_sheet("说明 Notes")
    for line in (
        ("统计时段 Period", f"{table.first.isoformat()} – {table.last.isoformat()}"),
        ("区域 Area", f"{table.area or '全市'} {table.area_name_zh} / {table.area_name_en}"),
        ("单位 Unit", table.unit or "全部 all"),
        ("事件大类 Class", table.event_class or "全部 all"),
        ("生成时间 Generated (UTC)", table.as_of.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")),
        ("口径 Definitions", "docs/evaluation.md"),
    ):
        notes.append(list(line))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()

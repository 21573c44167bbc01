"""The per-type questions (Open311 service definitions): Nanning's load, broken copies fail
with the file and line, and the answers' summary."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dispatch.citydata import CityDataError, load_city
from dispatch.open311.questions import (
    QUESTIONS_FILE,
    VALUES_FILE,
    check_answers,
    load_catalogue,
    summary_zh,
)

ROOT = Path(__file__).resolve().parents[2]
NANNING = ROOT / "grid_data" / "nanning"
TYPES = load_city(NANNING).event_types


def test_nanning_questions_load() -> None:
    catalogue = load_catalogue(NANNING, TYPES)
    assert len(catalogue.questions) == 10
    assert sum(map(len, catalogue.questions.values())) == 21
    for questions in catalogue.questions.values():
        assert [q.order for q in questions] == sorted(q.order for q in questions)
        for q in questions:
            assert bool(q.choices) == (q.datatype in ("singlevaluelist", "multivaluelist"))
    assert catalogue.changeset.endswith("Z")
    assert catalogue.of("06001") == ()


def copy(tmp_path: Path) -> Path:
    for name in ("event_types.csv", QUESTIONS_FILE, VALUES_FILE):
        shutil.copy(NANNING / name, tmp_path / name)
    return tmp_path


def broken(tmp_path: Path, file: str, find: str, replace: str) -> Path:
    path = copy(tmp_path) / file
    text = path.read_text(encoding="utf-8")
    assert find in text
    path.write_text(text.replace(find, replace, 1), encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("file", "find", "replace", "says"),
    [
        (QUESTIONS_FILE, "06014,still_spilling", "06999,still_spilling", "unknown event type"),
        (QUESTIONS_FILE, "06014,plate_no,2", "06014,still_spilling,2", "duplicate question"),
        (QUESTIONS_FILE, "06014,plate_no,2", "06014,plate_no,1", "duplicate order"),
        (QUESTIONS_FILE, "06014,plate_no,2,string", "06014,plate_no,2,photo", "datatype"),
        (QUESTIONS_FILE, "06014,plate_no,2,string,0,1", "06014,plate_no,2,string,1,0", "notice"),
        (QUESTIONS_FILE, "06014,plate_no,2", "06014,Plate No,2", "lower-case code"),
        (VALUES_FILE, "06014,material,muck", "06014,colour,muck", "no question 'colour'"),
        (VALUES_FILE, "06014,material,gravel", "06014,material,muck", "duplicate value key"),
    ],
)
def test_a_broken_file_names_its_line(
    tmp_path: Path, file: str, find: str, replace: str, says: str
) -> None:
    with pytest.raises(CityDataError, match=says) as info:
        load_catalogue(broken(tmp_path, file, find, replace), TYPES)
    assert info.value.file == file
    assert info.value.line is not None


def test_a_list_question_needs_values(tmp_path: Path) -> None:
    root = copy(tmp_path)
    text = (root / VALUES_FILE).read_text(encoding="utf-8")
    kept = [line for line in text.splitlines() if not line.startswith("06014,material,")]
    (root / VALUES_FILE).write_text("\n".join(kept) + "\n", encoding="utf-8")
    with pytest.raises(CityDataError, match="06014 material: a singlevaluelist needs values"):
        load_catalogue(root, TYPES)


def test_a_city_without_questions_has_none(tmp_path: Path) -> None:
    shutil.copy(NANNING / "event_types.csv", tmp_path / "event_types.csv")
    catalogue = load_catalogue(tmp_path, TYPES)
    assert dict(catalogue.questions) == {}


def test_answers_are_normalised_and_summarised_in_chinese() -> None:
    questions = load_catalogue(NANNING, TYPES).of("08011")
    answers, problems = check_answers(
        questions, {"violations": ["no_permit", "overload", "overload"], "plate_no": [" 桂A1 "]}
    )
    assert problems == []
    assert answers == {"plate_no": "桂A1", "violations": ["overload", "no_permit"]}
    assert summary_zh(questions, answers) == (
        "【补充信息】车牌号：桂A1；看到的问题：装载过量（超载）、无准运证或手续不全"
    )
    assert summary_zh(questions, {}) == ""


def test_a_datetime_answer_needs_a_zone_and_is_kept_in_utc() -> None:
    from dispatch.open311.questions import Question

    q = Question("06001", "seen_at", 1, "datetime", True, True, "发现时间", "Seen at")
    answers, problems = check_answers([q], {"seen_at": ["2026-03-02T08:00:00+08:00"]})
    assert answers == {"seen_at": "2026-03-02T00:00:00Z"}
    assert problems == []
    _, problems = check_answers([q], {"seen_at": ["2026-03-02 08:00"]})
    assert problems == [
        "attribute[seen_at] (发现时间): '2026-03-02 08:00' is not a date-time with a time zone, "
        "e.g. 2026-03-02T08:00:00+08:00"
    ]

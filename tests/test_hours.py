"""Opening hours with China's holidays and make-up working days: known answers, no database."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from locator.calendar import HolidayCalendar, default_data_dir
from locator.errors import ConfigError
from locator.hours import SHANGHAI, HoursState, evaluate, syntax_problem

UTC = dt.UTC
OFFICE = "Mo-Fr 09:00-18:00; PH off"
WEEKDAYS_AND_PH = "Mo-Fr 09:00-18:00; PH 10:00-16:00"


def at(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, *, tz: dt.tzinfo = SHANGHAI
) -> dt.datetime:
    """An aware datetime, by default Asia/Shanghai wall-clock time."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=tz)


def sh(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    """Asia/Shanghai wall-clock time."""
    return at(year, month, day, hour, minute)


# --- the calendar ----------------------------------------------------------------------------


def test_shipped_files_cover_2004_to_2026_and_load() -> None:
    cal = HolidayCalendar()
    assert cal.official_years() == list(range(2004, 2027))
    for year in cal.official_years():
        assert cal.status(dt.date(year, 1, 1)).source == "official"


def test_2026_dates_checked_by_hand() -> None:
    cal = HolidayCalendar()
    national_day = cal.status(dt.date(2026, 10, 1))
    assert national_day.kinds == ("holiday",)
    assert (national_day.name_zh, national_day.name_en) == ("国庆节", "National Day")
    assert cal.is_holiday(dt.date(2026, 10, 4)) is True  # a Sunday inside the block
    assert cal.is_makeup_workday(dt.date(2026, 10, 10)) is True  # Saturday, 调休上班
    assert cal.is_makeup_workday(dt.date(2026, 9, 20)) is True  # Sunday, 调休上班
    assert cal.is_holiday(dt.date(2026, 10, 8)) is False
    assert cal.is_holiday(dt.date(2026, 10, 17)) is False  # an ordinary Saturday
    assert cal.status(dt.date(2026, 10, 17)).kinds == ("normal",)


def test_year_file_format_is_documented() -> None:
    folder = default_data_dir()
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert "国务院办公厅" in readme
    document = json.loads((folder / "cn-2026.json").read_text(encoding="utf-8"))
    assert document["year"] == 2026
    assert {"date", "name_zh", "name_en"} <= set(document["holidays"][0])
    assert {"date", "name_zh", "name_en"} <= set(document["workdays"][0])


def test_year_without_file_uses_holidays_package() -> None:
    cal = HolidayCalendar()
    new_year = cal.status(dt.date(2031, 1, 1))
    assert new_year.kinds == ("holiday",)
    assert new_year.source == "holidays-package"
    assert cal.is_holiday(dt.date(2031, 10, 1)) is True
    assert cal.is_holiday(dt.date(2031, 10, 5)) is None  # near National Day: unknown
    assert cal.status(dt.date(2031, 10, 5)).note == "holiday status unknown for 2031"
    assert cal.is_holiday(dt.date(2031, 3, 11)) is False  # far from any holiday


@pytest.mark.parametrize("year", [1999, 2027, 2031, 2100])
def test_unknown_years_never_raise(year: int) -> None:
    cal = HolidayCalendar(fallback=False)
    status = cal.status(dt.date(year, 5, 1))
    assert not status.certain
    assert status.note == f"holiday status unknown for {year}"
    assert cal.is_holiday(dt.date(year, 5, 1)) is None


def test_holidays_package_failure_degrades(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "holidays", None)  # import fails
    cal = HolidayCalendar()
    assert cal.is_holiday(dt.date(2031, 10, 1)) is None
    state = evaluate(OFFICE, sh(2031, 10, 1, 10), calendar=cal)
    assert state == HoursState("unknown", None, "holiday status unknown for 2031")


def test_malformed_year_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "cn-2030.json").write_text('{"year": 2030, "holidays": []}', encoding="utf-8")
    cal = HolidayCalendar(tmp_path)
    with pytest.raises(ConfigError, match=r"cn-2030\.json.*not a valid holiday schedule"):
        cal.status(dt.date(2030, 1, 1))


def test_day_cannot_be_both_holiday_and_workday(tmp_path: Path) -> None:
    day = {"date": "2030-10-08", "name_zh": "国庆节", "name_en": "National Day"}
    document = {"year": 2030, "holidays": [day], "workdays": [day]}
    (tmp_path / "cn-2030.json").write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(ConfigError, match="both holiday and make-up working day"):
        HolidayCalendar(tmp_path).status(dt.date(2030, 10, 8))


def test_hand_written_year_file_is_used(tmp_path: Path) -> None:
    document = {
        "year": 2030,
        "holidays": [{"date": "2030-03-12", "name_zh": "测试", "name_en": "Test"}],
        "workdays": [{"date": "2030-03-16", "name_zh": "测试调休上班", "name_en": "Make-up"}],
    }
    (tmp_path / "cn-2030.json").write_text(json.dumps(document), encoding="utf-8")
    cal = HolidayCalendar(tmp_path)
    assert evaluate(OFFICE, sh(2030, 3, 12, 10), calendar=cal).state == "closed"  # Tuesday
    assert evaluate(OFFICE, sh(2030, 3, 16, 10), calendar=cal).state == "open"  # Saturday


# --- evaluate: the known answers -------------------------------------------------------------


@pytest.mark.parametrize(
    "when",
    [sh(2026, 11, 24, 3), sh(2026, 10, 1, 12), sh(2026, 10, 10, 23, 59), sh(2031, 10, 5, 10)],
)
def test_24_7_is_always_open(when: dt.datetime) -> None:
    assert evaluate("24/7", when) == HoursState("open", None, None)


@pytest.mark.parametrize(
    ("when", "state"),
    [
        (sh(2026, 11, 24, 10), "open"),  # Tuesday
        (sh(2026, 11, 24, 20), "closed"),  # Tuesday evening
        (sh(2026, 11, 24, 8, 59), "closed"),
        (sh(2026, 11, 21, 10), "closed"),  # Saturday
        (sh(2026, 11, 22, 10), "closed"),  # Sunday
        (sh(2026, 10, 1, 10), "closed"),  # National Day, a Thursday
        (sh(2026, 10, 6, 10), "closed"),  # Tuesday inside the holiday block
        (sh(2026, 10, 8, 10), "open"),  # first working day after it
        (sh(2026, 10, 10, 10), "open"),  # make-up working Saturday
        (sh(2026, 9, 20, 10), "open"),  # make-up working Sunday
        (sh(2026, 10, 17, 10), "closed"),  # ordinary Saturday a week later
    ],
)
def test_union_post_office_hours(when: dt.datetime, state: str) -> None:
    assert evaluate(OFFICE, when).state == state


def test_the_minute_decides_to_the_second() -> None:
    last_second = sh(2026, 11, 24, 8, 59).replace(second=59, microsecond=999_999)
    assert evaluate(OFFICE, last_second) == HoursState("closed", sh(2026, 11, 24, 9), None)
    assert evaluate(OFFICE, sh(2026, 11, 24, 9)).state == "open"
    assert evaluate(OFFICE, sh(2026, 11, 24, 17).replace(minute=59, second=30)).state == "open"
    assert evaluate(OFFICE, sh(2026, 11, 24, 18)).state == "closed"


def test_office_next_change_is_today_at_six_in_shanghai() -> None:
    result = evaluate(OFFICE, sh(2026, 11, 24, 10))
    assert result.next_change == sh(2026, 11, 24, 18)
    assert result.next_change is not None
    assert result.next_change.tzinfo == ZoneInfo("Asia/Shanghai")
    assert result.note is None


def test_next_change_across_the_weekend_and_the_holiday_block() -> None:
    assert evaluate(OFFICE, sh(2026, 11, 20, 19)).next_change == sh(2026, 11, 23, 9)
    # Wednesday evening before National Day: next opening is Thursday 8 October.
    assert evaluate(OFFICE, sh(2026, 9, 30, 20)).next_change == sh(2026, 10, 8, 9)
    # Inside the block, the same.
    assert evaluate(OFFICE, sh(2026, 10, 3, 12)).next_change == sh(2026, 10, 8, 9)
    # Friday evening before the make-up Saturday: it opens again on Saturday morning.
    assert evaluate(OFFICE, sh(2026, 10, 9, 20)).next_change == sh(2026, 10, 10, 9)
    assert evaluate(OFFICE, sh(2026, 10, 10, 10)).next_change == sh(2026, 10, 10, 18)


def test_same_wall_clock_result_whatever_the_zone_of_at() -> None:
    in_shanghai = evaluate(OFFICE, sh(2026, 11, 24, 10))
    in_utc = evaluate(OFFICE, at(2026, 11, 24, 2, tz=UTC))
    in_new_york = evaluate(OFFICE, at(2026, 11, 23, 21, tz=ZoneInfo("America/New_York")))
    assert in_shanghai == in_utc == in_new_york
    assert in_utc.state == "open"
    # 23:30Z on 30 September is 07:30 on 1 October in Shanghai: National Day.
    assert evaluate(OFFICE, at(2026, 9, 30, 23, 30, tz=UTC)).next_change == sh(2026, 10, 8, 9)


@pytest.mark.parametrize(
    ("when", "state"),
    [
        (sh(2026, 11, 23, 10), "closed"),  # Monday
        (sh(2026, 11, 24, 9), "open"),  # Tuesday
        (sh(2026, 11, 22, 20, 59), "open"),  # Sunday
        (sh(2026, 11, 22, 21), "closed"),
        (sh(2026, 10, 5, 10), "closed"),  # Monday in the holiday block: weekday rules apply
        (sh(2026, 9, 20, 10), "open"),  # make-up Sunday, as a Friday
    ],
)
def test_shop_closed_on_mondays(when: dt.datetime, state: str) -> None:
    assert evaluate("Tu-Su 09:00-21:00", when).state == state


def test_shop_closed_on_mondays_next_change() -> None:
    assert evaluate("Tu-Su 09:00-21:00", sh(2026, 11, 22, 22)).next_change == sh(2026, 11, 24, 9)


@pytest.mark.parametrize(
    ("expression", "when", "state", "next_change"),
    [
        ("PH 10:00-16:00", sh(2026, 10, 1, 11), "open", sh(2026, 10, 1, 16)),
        ("PH 10:00-16:00", sh(2026, 10, 1, 9), "closed", sh(2026, 10, 1, 10)),
        ("PH 10:00-16:00", sh(2026, 11, 24, 11), "closed", sh(2027, 1, 1, 10)),
        ("PH 10:00-16:00", sh(2026, 10, 10, 11), "closed", sh(2027, 1, 1, 10)),  # never PH
        (WEEKDAYS_AND_PH, sh(2026, 10, 1, 9, 30), "closed", sh(2026, 10, 1, 10)),
        (WEEKDAYS_AND_PH, sh(2026, 10, 4, 11), "open", sh(2026, 10, 4, 16)),
        (WEEKDAYS_AND_PH, sh(2026, 10, 8, 17), "open", sh(2026, 10, 8, 18)),
        ("Sa,PH 10:00-16:00", sh(2026, 10, 1, 11), "open", sh(2026, 10, 1, 16)),
        ("Sa,PH 10:00-16:00", sh(2026, 10, 10, 11), "closed", sh(2026, 10, 17, 10)),
        ("Sa,PH 10:00-16:00", sh(2026, 10, 17, 11), "open", sh(2026, 10, 17, 16)),
    ],
)
def test_public_holiday_rules(
    expression: str, when: dt.datetime, state: str, next_change: dt.datetime | None
) -> None:
    result = evaluate(expression, when)
    assert (result.state, result.next_change) == (state, next_change)


def test_next_public_holiday_may_come_from_the_holidays_package() -> None:
    # 1 January 2027 has no official file yet; the holidays package knows it for certain.
    result = evaluate("PH 10:00-16:00", sh(2026, 12, 31, 11))
    assert (result.state, result.next_change) == ("closed", sh(2027, 1, 1, 10))


@pytest.mark.parametrize(
    ("when", "state", "next_change"),
    [
        (sh(2026, 11, 24, 1, 30), "open", sh(2026, 11, 24, 2)),
        (sh(2026, 11, 24, 3), "closed", sh(2026, 11, 24, 18)),
        (sh(2026, 11, 24, 23), "open", sh(2026, 11, 25, 2)),
        (sh(2026, 10, 10, 1, 30), "open", sh(2026, 10, 10, 2)),
    ],
)
def test_span_after_midnight(
    when: dt.datetime, state: str, next_change: dt.datetime | None
) -> None:
    result = evaluate("Mo-Su 18:00-02:00", when)
    assert (result.state, result.next_change) == (state, next_change)


def test_span_after_midnight_follows_the_day_it_started_on() -> None:
    fridays = "Fr 20:00-02:00"
    assert evaluate(fridays, sh(2026, 10, 10, 1)).state == "open"  # from the real Friday
    assert evaluate(fridays, sh(2026, 10, 10, 21)).state == "open"  # make-up day, as a Friday
    assert evaluate(fridays, sh(2026, 10, 11, 1)).state == "open"  # ... running past midnight
    assert evaluate(fridays, sh(2026, 10, 18, 1)).state == "closed"  # an ordinary Sunday
    assert evaluate(fridays, sh(2026, 10, 9, 21)).next_change == sh(2026, 10, 10, 2)


def test_span_after_midnight_into_a_holiday() -> None:
    nights = "Mo-Su 18:00-02:00; PH off"
    result = evaluate(nights, sh(2026, 9, 30, 19))
    assert (result.state, result.next_change) == ("open", sh(2026, 10, 1))
    assert evaluate(nights, sh(2026, 10, 1, 1)).state == "closed"
    assert evaluate(nights, sh(2026, 10, 8, 19)).state == "open"


@pytest.mark.parametrize(
    "expression",
    [
        "24/7",
        OFFICE,
        WEEKDAYS_AND_PH,
        "Tu-Su 09:00-21:00",
        "Mo-Su 18:00-02:00; PH off",
        "Fr 20:00-02:00",
        "Sa,PH 10:00-16:00",
        "Mo-Fr 08:00-12:00,13:00-17:30; SH off",
        "not hours",
    ],
)
def test_state_only_evaluation_gives_the_same_state(expression: str) -> None:
    # every 7 h 13 min across the National Day block, its make-up days and the year end
    starts = (sh(2026, 9, 25), sh(2026, 12, 26))
    for start in starts:
        for step in range(60):
            when = start + dt.timedelta(minutes=433 * step)
            full = evaluate(expression, when)
            state_only = evaluate(expression, when, next_change=False)
            assert (state_only.state, state_only.note) == (full.state, full.note), when
            assert state_only.next_change is None


def test_state_only_evaluation_reads_the_calendar_around_at_only() -> None:
    cal = HolidayCalendar()
    result = evaluate(OFFICE, sh(2026, 11, 25, 12), calendar=cal, next_change=False)
    assert result.state == "open"
    assert 2027 not in cal._years  # the full evaluation looks a year ahead
    evaluate(OFFICE, sh(2026, 11, 25, 12), calendar=cal)
    assert 2027 in cal._years


def test_make_up_day_is_evaluated_as_a_friday() -> None:
    hours = "Mo-Th 09:00-18:00; Fr 09:00-12:00"
    assert evaluate(hours, sh(2026, 10, 10, 11)).state == "open"
    result = evaluate(hours, sh(2026, 10, 10, 13))
    assert (result.state, result.next_change) == ("closed", sh(2026, 10, 12, 9))


@pytest.mark.parametrize("expression", [None, "", "   "])
def test_missing_hours_are_unknown(expression: str | None) -> None:
    assert evaluate(expression, sh(2026, 11, 24, 10)) == HoursState(
        "unknown", None, "no opening hours"
    )


@pytest.mark.parametrize("expression", ["garbage", "Mo-Fr 9h-18h", "Mo–Fr 09:00-18:00", "晚上"])
def test_unparseable_hours_are_unknown(expression: str) -> None:
    assert evaluate(expression, sh(2026, 11, 24, 10)) == HoursState(
        "unknown", None, "unparseable hours"
    )


def test_unknown_modifier_and_comment_only_rules_are_unknown() -> None:
    assert evaluate("Mo-Fr 09:00-18:00 unknown", sh(2026, 11, 24, 10)).state == "unknown"
    by_appointment = 'Mo-Fr 09:00-18:00 || "by appointment"'
    saturday = evaluate(by_appointment, sh(2026, 11, 21, 10))
    assert saturday == HoursState("unknown", sh(2026, 11, 23), "by appointment")
    assert evaluate(by_appointment, sh(2026, 11, 24, 10)).state == "open"
    assert evaluate('"call the keeper"', sh(2026, 11, 24, 10)).state == "unknown"
    explicit = evaluate('24/7 "always open"', sh(2026, 11, 24, 10))
    assert explicit == HoursState("open", None, "always open")


def test_rule_comment_is_the_note() -> None:
    result = evaluate('Mo-Fr 09:00-18:00 "工会驿站"; PH off', sh(2026, 11, 24, 10))
    assert result == HoursState("open", sh(2026, 11, 24, 18), "工会驿站")


def test_a_comment_change_is_not_a_state_change() -> None:
    hours = 'Mo-Su 10:00-12:00 "morning", Mo-Su 12:00-14:00 "noon"'
    assert evaluate(hours, sh(2026, 11, 24, 11)).next_change == sh(2026, 11, 24, 14)


@pytest.mark.parametrize("when", [dt.datetime(2026, 11, 24, 10), "2026-11-24T10:00"])
def test_naive_or_wrong_type_at_is_a_config_error(when: object) -> None:
    with pytest.raises(ConfigError, match="argument 'at'"):
        evaluate(OFFICE, when)  # type: ignore[arg-type]


def test_naive_at_is_rejected_even_without_hours() -> None:
    with pytest.raises(ConfigError, match="timezone-aware"):
        evaluate(None, dt.datetime(2026, 11, 24, 10))


# --- a year without a data file --------------------------------------------------------------


def test_2031_holiday_known_to_the_holidays_package_is_closed() -> None:
    assert evaluate("Mo-Su 08:00-20:00; PH off", sh(2031, 10, 1, 10)).state == "closed"


def test_2031_day_near_a_holiday_is_unknown_with_a_note() -> None:
    result = evaluate("Mo-Su 08:00-20:00; PH off", sh(2031, 10, 5, 10))
    assert result == HoursState("unknown", None, "holiday status unknown for 2031")


def test_2031_day_far_from_holidays_follows_the_weekday_rules() -> None:
    result = evaluate(OFFICE, sh(2031, 3, 11, 10))
    assert (result.state, result.next_change) == ("open", sh(2031, 3, 11, 18))


def test_uncertain_day_is_decided_when_every_reading_agrees() -> None:
    # 2031-10-05 is a Sunday near National Day: a day off, an ordinary Sunday or a make-up
    # working day. The shop opens on all of them; the office would only on a make-up day.
    assert evaluate("Tu-Su 09:00-21:00", sh(2031, 10, 5, 10)).state == "open"
    assert evaluate(OFFICE, sh(2031, 10, 5, 10)).state == "unknown"
    assert evaluate("Mo-Fr 09:00-18:00", sh(2031, 10, 6, 10)).state == "open"  # no PH rule


def test_year_nobody_knows_degrades_without_raising() -> None:
    cal = HolidayCalendar(fallback=False)
    assert evaluate(OFFICE, sh(2031, 3, 11, 10), calendar=cal) == HoursState(
        "unknown", None, "holiday status unknown for 2031"
    )
    assert evaluate("24/7", sh(2031, 3, 11, 10), calendar=cal).state == "open"
    weekday_only = evaluate("Mo-Fr 09:00-18:00", sh(2031, 3, 11, 10), calendar=cal)
    assert (weekday_only.state, weekday_only.next_change) == ("open", sh(2031, 3, 11, 18))
    assert evaluate("Mo-Fr 09:00-18:00", sh(2031, 3, 15, 10), calendar=cal).state == "unknown"


def test_next_change_stops_before_a_day_nobody_knows() -> None:
    # Thursday 31 December 2026: 1 January 2027 is a known holiday, 2 January is a Saturday
    # that may be a make-up working day, so the reopening time cannot be known.
    result = evaluate(OFFICE, sh(2026, 12, 31, 20))
    assert (result.state, result.next_change) == ("closed", None)


# --- things we do not know or cannot rewrite -------------------------------------------------


def test_school_holidays_are_unknown_when_they_matter() -> None:
    result = evaluate("Mo-Fr 09:00-18:00; SH off", sh(2026, 11, 24, 10))
    assert result == HoursState("unknown", None, "school holidays (SH) are not known")
    assert evaluate("Mo-Fr 09:00-18:00; SH off", sh(2026, 11, 21, 10)).state == "closed"


def test_expression_that_cannot_be_rewritten() -> None:
    hours = "Mo[1] 09:00-12:00; PH off"
    assert evaluate(hours, sh(2026, 11, 2, 10)).state == "open"  # first Monday, ordinary
    assert evaluate(hours, sh(2026, 11, 9, 10)).next_change == sh(2026, 12, 7, 9)
    on_holiday = evaluate(hours, sh(2026, 10, 5, 10))
    assert on_holiday.state == "unknown"
    assert on_holiday.note is not None and "holidays" in on_holiday.note


def test_syntax_problem_is_unchanged() -> None:
    assert syntax_problem(OFFICE) is None
    problem = syntax_problem("Mo-Fr 9h-18h")
    assert problem is not None and problem.startswith("not valid OSM opening_hours syntax (")

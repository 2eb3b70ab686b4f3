"""Opening hours in OpenStreetMap's ``opening_hours`` syntax, evaluated in Asia/Shanghai.

:func:`evaluate` answers "is this station open at this time, and until when?" for the
nearest-station query. It uses opening-hours-py (the Rust ``opening-hours`` crate) for the
syntax and the time arithmetic, and :class:`locator.calendar.HolidayCalendar` for holidays.

How holidays and make-up working days are integrated
----------------------------------------------------
opening-hours-py decides ``PH`` from a built-in calendar chosen by ``country=``. For China that
calendar knows neither the full official holiday blocks nor make-up working days (调休): it
treats the make-up working Saturday 2026-10-10 as a Saturday. It cannot be given another
calendar, so the library is only ever built *without* a country (``PH`` then never matches)
and our calendar is brought in by rewriting the expression:

1. The expression is parsed once and printed back in the library's canonical form. Every
   weekday selector in it (``Mo-Fr``, ``Sa,PH``, ``PH -1 day``, ``SH``) is cut out into a
   small set object; the rest of the text is kept verbatim. (The cut is checked: rendered back
   for an ordinary week, it must give exactly the original's schedule, else the expression is
   "not rewritable", see below.)
2. The library computes the schedule of a date D from the rules matching D and, for spans
   past midnight such as ``18:00-02:00``, the rules matching D-1; nothing else. So for a
   window (D-1, D) each selector can be replaced by the *real* weekday names of those two
   dates on which it should match according to our calendar: ``Mo-Fr; PH off`` on the
   holiday Thursday 2026-10-01 becomes ``We,Th; Th off``, on the make-up working Saturday
   2026-10-10 it becomes ``Fr,Sa`` (and no day for ``PH``). The rendered variant is
   evaluated by the library at the real time: year, month, week and time selectors keep
   their real-date meaning, and spans across midnight come out right on both sides of a
   holiday boundary.
3. Days on which nothing differs from the plain weekday reading (most days) use the
   expression as parsed, without any rewriting.

Semantics
---------
* A **public holiday** (any day off of the official schedule, including the weekend days
  inside a holiday block) matches ``PH``; weekday rules keep applying to it, so a station
  without a PH rule follows its weekday rules, and a later ``PH off`` rule overrides them.
* A **make-up working day** (a Saturday or Sunday worked as a normal weekday) is evaluated
  as a **Friday** (:data:`MAKEUP_WEEKDAY`), never as PH. Friday is chosen because it is a
  working day on every weekday-based schedule and because it keeps "closed on Mondays" shops
  (``Tu-Su``) open on a day they would open anyway.
* ``SH`` (school holidays) is not known here: a day is evaluated both with and without it.
* When the calendar cannot say what a day is (a year without an official file, near a
  holiday of the ``holidays`` package, or a year nobody knows), every possible reading is
  evaluated; if they agree the answer stands, otherwise the state is ``unknown`` with a
  note such as ``"holiday status unknown for 2031"``.
* Missing, empty or unparseable hours are ``unknown``, never ``open``; so are rules with
  the ``unknown`` modifier and rules made of a comment alone (``|| "by appointment"``),
  which the library would otherwise treat as open. (A ``|| 24/7`` fallback is also written
  as ``|| Mo-Su``, same meaning: with ``24/7`` the library's interval iterator skips days.)
* ``next_change`` is the next time the state (open/closed/unknown) changes; a change of
  comment alone is not a change. It is searched up to :data:`HORIZON_DAYS` ahead and is
  None when the state never changes, or when it cannot be computed exactly (it would depend
  on a day whose holiday status is unknown, or the expression is not rewritable and the
  search meets a holiday or make-up day).
* Expressions that cannot be rewritten (``Mo[1]``, weekday offsets, or anything the check in
  step 1 rejects) are evaluated by the library as written on ordinary days; on a window that
  touches a holiday or make-up day that matters to them, they are ``unknown``.
* Variable times (``sunrise``, ``sunset``) use the library's defaults (no coordinates).
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

import opening_hours

from locator.calendar import HolidayCalendar, default_calendar
from locator.errors import ConfigError

logger = logging.getLogger(__name__)

SHANGHAI = ZoneInfo("Asia/Shanghai")
MAKEUP_WEEKDAY = 4
"""Weekday (Monday = 0) whose rules apply on a make-up working day: Friday."""
HORIZON_DAYS = 366
"""How far ahead :func:`evaluate` looks for the next change of state."""

State = Literal["open", "closed", "unknown"]

_WEEKDAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
_WD = r"(?:Mo|Tu|We|Th|Fr|Sa|Su)"
_ITEM = rf"(?:PH(?: [+-]?\d+ days?)?|SH|{_WD}(?:-{_WD})?)"
_SELECTOR_RE = re.compile(rf"(?<![\w\]\[+-])({_ITEM}(?:,{_ITEM})*)(?![\w\[])")
_TOKEN_RE = re.compile(r"\b(?:Mo|Tu|We|Th|Fr|Sa|Su|PH|SH)\b")
_PH_RE = re.compile(r"\bPH(?: ([+-]?\d+) days?)?")
_COMMENT_RE = re.compile(r'"[^"]*"')
_COMMENT_ONLY_RE = re.compile(r'(?:^|(?<=; )|(?<=, )|(?<= \|\| ))24/7 "([^"]*)"(?=$|; |, | \|\| )')
_STATES: dict[object, State] = {
    opening_hours.State.OPEN: "open",
    opening_hours.State.CLOSED: "closed",
    opening_hours.State.UNKNOWN: "unknown",
}
_REFERENCE_MONDAY = dt.date(2024, 1, 1)


@dataclass(frozen=True)
class HoursState:
    """The opening state of one station at one time.

    Attributes
    ----------
    state : {"open", "closed", "unknown"}
        ``unknown`` whenever the hours are missing, unparseable, say so, or depend on a
        holiday status nobody knows.
    next_change : datetime.datetime or None
        When the state changes next (aware, Asia/Shanghai); None when it never changes
        within the horizon or cannot be computed exactly.
    note : str or None
        Why the state is unknown, or the comment of the rule that applies.
    """

    state: State
    next_change: dt.datetime | None
    note: str | None


def syntax_problem(expression: str) -> str | None:
    """Return why ``expression`` is not valid ``opening_hours`` syntax, or None when it is."""
    try:
        opening_hours.OpeningHours(expression)
    except opening_hours.ParserError as exc:  # type: ignore[attr-defined]
        first = str(exc).strip().splitlines()
        detail = first[-1].strip(" =") if first else "cannot be parsed"
        return f"not valid OSM opening_hours syntax ({detail})"
    return None


def evaluate(
    expression: str | None,
    at: dt.datetime,
    *,
    calendar: HolidayCalendar | None = None,
    next_change: bool = True,
) -> HoursState:
    """Evaluate opening hours at one time, with China's holidays and make-up working days.

    Parameters
    ----------
    expression : str or None
        OSM ``opening_hours`` value, e.g. ``"Mo-Fr 09:00-18:00; PH off"``. None or blank
        means the hours are not known.
    at : datetime.datetime
        The time to evaluate, timezone-aware, in any zone; it is converted to Asia/Shanghai.
        Hours change on whole minutes: the answer is that of the minute ``at`` falls in.
    calendar : HolidayCalendar, optional
        Holiday calendar; the one built from ``data/calendar`` by default.
    next_change : bool, default True
        False when only the state is wanted: ``next_change`` is then None, and the calendar
        is read only around ``at`` (not up to a year ahead).

    Returns
    -------
    HoursState
        State at ``at``, next change and a note (semantics in the module docstring).

    Raises
    ------
    ConfigError
        When ``at`` is not a timezone-aware datetime.

    Examples
    --------
    The make-up working Saturday 2026-10-10 (调休上班) opens an office like a weekday:

    >>> saturday = dt.datetime(2026, 10, 10, 10, tzinfo=SHANGHAI)
    >>> result = evaluate("Mo-Fr 09:00-18:00; PH off", saturday)
    >>> result.state, result.next_change.isoformat()
    ('open', '2026-10-10T18:00:00+08:00')
    """
    # Opening hours change on whole minutes, so the state and the next change are those of the
    # minute ``at`` falls in: one evaluation serves every question asked in that minute.
    local = _local_time(at).replace(second=0, microsecond=0)
    if expression is None or not expression.strip():
        return HoursState("unknown", None, "no opening hours")
    cal = calendar if calendar is not None else default_calendar()
    return _evaluate_minute(expression, cal, local, next_change)


@lru_cache(maxsize=65536)
def _evaluate_minute(
    expression: str, cal: HolidayCalendar, local: dt.datetime, next_change: bool = True
) -> HoursState:
    analysis = _analyse(expression)
    if analysis.base is None:
        return HoursState("unknown", None, "unparseable hours")
    return _evaluate(analysis, cal, local, next_change)


def _local_time(at: dt.datetime) -> dt.datetime:
    """``at`` as a naive Asia/Shanghai wall-clock time; ConfigError when it is naive."""
    if not isinstance(at, dt.datetime):
        raise ConfigError(f"argument 'at' must be a datetime, got {at!r}")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ConfigError(
            f"argument 'at' must be a timezone-aware datetime, got naive {at!r}; "
            "pass for example datetime.now(ZoneInfo('Asia/Shanghai'))"
        )
    return at.astimezone(SHANGHAI).replace(tzinfo=None)


# --- parsing and rewriting -------------------------------------------------------------------


@dataclass(frozen=True)
class _Facts:
    """What a weekday selector can see of one date."""

    weekday: int
    ph_hits: frozenset[int]
    school: bool


@dataclass(frozen=True)
class _Selector:
    """One weekday selector of the expression, as sets."""

    weekdays: frozenset[int]
    ph_offsets: frozenset[int]
    school: bool

    def matches(self, facts: _Facts) -> bool:
        return (
            facts.weekday in self.weekdays
            or not self.ph_offsets.isdisjoint(facts.ph_hits)
            or (self.school and facts.school)
        )


@dataclass(frozen=True, eq=False)
class _Sensitivity:
    """What of the calendar an expression can see: weekdays, PH (with offsets), SH.

    Instances are interned by :func:`_sensitivity` and hashed by identity, which keeps the
    per-day caches keyed on them cheap.
    """

    weekdays: bool
    ph_offsets: frozenset[int]
    school: bool


@cache
def _sensitivity(weekdays: bool, ph_offsets: frozenset[int], school: bool) -> _Sensitivity:
    return _Sensitivity(weekdays, ph_offsets, school)


@dataclass(frozen=True)
class _Analysis:
    """An expression parsed once: the library object and, when possible, a template.

    ``sensitivity`` is None when no holiday or make-up day can change the schedule;
    ``walk_daily`` is True when the library's multi-day intervals cannot be trusted for it.
    """

    base: opening_hours.OpeningHours | None
    pieces: tuple[str | _Selector, ...] | None
    sensitivity: _Sensitivity | None
    walk_daily: bool


@lru_cache(maxsize=16384)
def _analyse(expression: str) -> _Analysis:
    """Parse ``expression`` and cut its weekday selectors out (see the module docstring)."""
    try:
        parsed = opening_hours.OpeningHours(expression)
    except opening_hours.ParserError:  # type: ignore[attr-defined]
        return _Analysis(None, None, None, False)
    canonical = _fallback_every_day(_unknown_comment_rules(str(parsed), expression))
    base = parsed if canonical == str(parsed) else _compile(canonical)
    code = _COMMENT_RE.sub('""', canonical)
    tokens = {t.group(0) for t in _TOKEN_RE.finditer(code)}
    ph_offsets = frozenset(int(m.group(1) or 0) for m in _PH_RE.finditer(code))
    pieces = _template(canonical)
    if pieces is not None and not _template_faithful(pieces, base):
        logger.debug("weekday rewrite of %r does not round-trip; evaluated as written", expression)
        pieces = None
    sensitivity = _sensitivity(bool(tokens - {"PH", "SH"}), ph_offsets, "SH" in tokens)
    return _Analysis(
        base,
        pieces,
        sensitivity if tokens else None,
        walk_daily=not _multi_day_consistent(base),
    )


def _unknown_comment_rules(canonical: str, expression: str) -> str:
    """Mark rules made of a comment alone as ``unknown`` (the library prints them as 24/7)."""

    def replace(match: re.Match[str]) -> str:
        if canonical[: match.start()].count('"') % 2:
            return match.group(0)
        explicit = re.search(r"24/7\s*\"" + re.escape(match.group(1)) + '"', expression)
        return match.group(0) if explicit else f'24/7 unknown "{match.group(1)}"'

    return _COMMENT_ONLY_RE.sub(replace, canonical)


def _fallback_every_day(canonical: str) -> str:
    """Write a ``|| 24/7`` fallback as ``|| Mo-Su`` (same meaning).

    With ``24/7`` as a fallback, the library's interval iterator skips the days on which the
    main rules apply again; ``Mo-Su`` does not trigger that.
    """
    parts = re.split(r'("[^"]*")', canonical)
    return "".join(p if p.startswith('"') else p.replace(" || 24/7", " || Mo-Su") for p in parts)


def _template(canonical: str) -> tuple[str | _Selector, ...] | None:
    """Split the canonical text into literal pieces and weekday selectors, or None."""
    pieces: list[str | _Selector] = []
    for chunk in re.split(r'("[^"]*")', canonical):
        if chunk.startswith('"'):
            pieces.append(chunk)
            continue
        last = 0
        for match in _SELECTOR_RE.finditer(chunk):
            pieces.append(chunk[last : match.start()])
            pieces.append(_parse_selector(match.group(1)))
            last = match.end()
        if _TOKEN_RE.search(_SELECTOR_RE.sub("", chunk)):
            return None
        pieces.append(chunk[last:])
    return tuple(p for p in pieces if p != "")


def _parse_selector(text: str) -> _Selector:
    """``Mo-Fr,PH -1 days,SH`` (canonical form) as sets."""
    weekdays: set[int] = set()
    offsets: set[int] = set()
    school = False
    for item in text.split(","):
        if item.startswith("PH"):
            number = item[2:].strip().split(" ")[0]
            offsets.add(int(number) if number else 0)
        elif item == "SH":
            school = True
        else:
            first, _, last = item.partition("-")
            start = _WEEKDAYS.index(first)
            stop = _WEEKDAYS.index(last) if last else start
            weekdays.update((start + n) % 7 for n in range((stop - start) % 7 + 1))
    return _Selector(frozenset(weekdays), frozenset(offsets), school)


def _plain(day: dt.date) -> _Facts:
    return _Facts(day.weekday(), frozenset(), False)


def _render(pieces: tuple[str | _Selector, ...], today: int, prev: _Facts, cur: _Facts) -> str:
    """The expression for a window (day-1, day) where day is a ``today`` (Monday = 0).

    Each selector becomes the real weekday names of the two days on which it matches, or the
    next day's name (outside the window) when it matches neither.
    """
    yesterday = (today - 1) % 7
    out = []
    for piece in pieces:
        if isinstance(piece, str):
            out.append(piece)
            continue
        days = [d for d, facts in ((yesterday, prev), (today, cur)) if piece.matches(facts)]
        out.append(",".join(_WEEKDAYS[d] for d in sorted(days or [(today + 1) % 7])))
    return "".join(out)


@lru_cache(maxsize=8192)
def _compile(text: str) -> opening_hours.OpeningHours:
    return opening_hours.OpeningHours(text)


def _template_faithful(
    pieces: tuple[str | _Selector, ...], base: opening_hours.OpeningHours
) -> bool:
    """True when the plain rendering reproduces the schedule of a whole ordinary week."""
    try:
        for n in range(8):
            day = _REFERENCE_MONDAY + dt.timedelta(n)
            text = _render(pieces, day.weekday(), _plain(day - dt.timedelta(1)), _plain(day))
            start = dt.datetime.combine(day, dt.time())
            end = start + dt.timedelta(days=1)
            if _spans(_compile(text), start, end) != _spans(base, start, end):
                return False
    except opening_hours.ParserError:  # type: ignore[attr-defined]
        return False
    return True


def _multi_day_consistent(base: opening_hours.OpeningHours) -> bool:
    """True when intervals over several days equal the same intervals asked day by day."""
    start = dt.datetime.combine(_REFERENCE_MONDAY, dt.time(11))
    end = start + dt.timedelta(days=15)
    by_day: list[tuple[dt.datetime, State]] = []
    cursor = start
    while cursor < end:
        midnight = min(dt.datetime.combine(cursor.date() + dt.timedelta(1), dt.time()), end)
        for begin, state in _spans(base, cursor, midnight):
            if not by_day or by_day[-1][1] != state:
                by_day.append((begin, state))
        cursor = midnight
    return _spans(base, start, end) == by_day


def _spans(
    oh: opening_hours.OpeningHours, start: dt.datetime, end: dt.datetime
) -> list[tuple[dt.datetime, State]]:
    """Start times and states of the intervals in ``[start, end)``, merged by state."""
    out: list[tuple[dt.datetime, State]] = []
    for begin, _end, kind, _comment in oh.intervals(start, end):
        state = _STATES[kind]
        if not out or out[-1][1] != state:
            out.append((begin, state))
    return out


# --- evaluation ------------------------------------------------------------------------------


def _evaluate(
    analysis: _Analysis, cal: HolidayCalendar, local: dt.datetime, next_change: bool = True
) -> HoursState:
    """State, comment and (with ``next_change``) next change at the naive Shanghai time
    ``local``."""
    base = analysis.base
    assert base is not None
    sens = analysis.sensitivity
    day = local.date()
    horizon = local + (_HORIZON if next_change else _STATE_ONLY)
    if sens is None or not _window_special(cal, sens, day):
        end = _ordinary_until(analysis, cal, day, horizon)
        intervals = base.intervals(local, end)
        _begin, _end, kind, comment = next(intervals)
        state = _STATES[kind]
        change = next((b for b, _e, k, _c in intervals if _STATES[k] != state), None)
    else:
        if analysis.pieces is None:
            return HoursState("unknown", None, _TOO_COMPLEX)
        results = sorted(
            (_STATES[k], c) for k, c in (v.state(local) for v in _variants(analysis, cal, day))
        )
        if len({s for s, _ in results}) > 1:
            return HoursState("unknown", None, _window_note(cal, sens, day))
        state = results[0][0]
        comment = next((c for _, c in results if c), "")
        end = local
        change = None
    if not next_change:
        change = None
    elif change is None and end < horizon:
        change = _next_change(analysis, cal, end, horizon, state)
    return HoursState(state, change.replace(tzinfo=SHANGHAI) if change else None, comment or None)


_TOO_COMPLEX = "hours too complex to evaluate on holidays or make-up working days"
_HORIZON = dt.timedelta(days=HORIZON_DAYS)
_STATE_ONLY = dt.timedelta(days=1)
"""How far ahead a state-only evaluation reads (the state's interval starts at ``local``)."""
_MIDNIGHT = dt.time()


def _ordinary_until(
    analysis: _Analysis, cal: HolidayCalendar, day: dt.date, horizon: dt.datetime
) -> dt.datetime:
    """End of the run of ordinary days that starts on ``day`` (capped at ``horizon``)."""
    if analysis.walk_daily:
        nxt: dt.date | None = day + dt.timedelta(1)
    elif analysis.sensitivity is not None:
        nxt = _next_special(
            cal, analysis.sensitivity, day + dt.timedelta(1), horizon.date() + dt.timedelta(2)
        )
    else:
        return horizon
    return min(dt.datetime.combine(nxt, _MIDNIGHT), horizon) if nxt else horizon


def _next_change(
    analysis: _Analysis,
    cal: HolidayCalendar,
    cursor: dt.datetime,
    horizon: dt.datetime,
    state: State,
) -> dt.datetime | None:
    """First time in ``[cursor, horizon)`` with another state than ``state``, or None.

    None also when it depends on a day whose readings disagree, or on a holiday window of an
    expression that cannot be rewritten.
    """
    base = analysis.base
    assert base is not None
    sens = analysis.sensitivity
    while cursor < horizon:
        day = cursor.date()
        if sens is not None and _window_special(cal, sens, day):
            if analysis.pieces is None:
                return None
            end = min(dt.datetime.combine(day + dt.timedelta(1), _MIDNIGHT), horizon)
            readings = {tuple(_spans(v, cursor, end)) for v in _variants(analysis, cal, day)}
            if len(readings) > 1:
                return None
            change = next((b for b, s in readings.pop() if s != state), None)
        else:
            end = _ordinary_until(analysis, cal, day, horizon)
            change = _first_change(base, cursor, end, state)
        if change is not None:
            return change
        cursor = end
    return None


def _first_change(
    oh: opening_hours.OpeningHours, start: dt.datetime, end: dt.datetime, state: State
) -> dt.datetime | None:
    for begin, _end, kind, _comment in oh.intervals(start, end):
        if _STATES[kind] != state:
            return begin
    return None


def _variants(
    analysis: _Analysis, cal: HolidayCalendar, day: dt.date
) -> tuple[opening_hours.OpeningHours, ...]:
    """The library objects for the window (day-1, day), one per possible reading."""
    assert analysis.pieces is not None and analysis.sensitivity is not None
    prev, _ = _readings(cal, analysis.sensitivity, day - dt.timedelta(1))
    cur, _ = _readings(cal, analysis.sensitivity, day)
    return _rendered(analysis.pieces, day.weekday(), prev, cur)


@lru_cache(maxsize=16384)
def _rendered(
    pieces: tuple[str | _Selector, ...],
    weekday: int,
    prev: tuple[_Facts, ...],
    cur: tuple[_Facts, ...],
) -> tuple[opening_hours.OpeningHours, ...]:
    texts = {_render(pieces, weekday, p, c) for p, c in itertools.product(prev, cur)}
    return tuple(_compile(text) for text in sorted(texts))


@lru_cache(maxsize=65536)
def _readings(
    cal: HolidayCalendar, sens: _Sensitivity, day: dt.date
) -> tuple[tuple[_Facts, ...], str | None]:
    """Every reading of ``day`` the calendar allows (plain first), and a note when several."""
    offsets = sorted(sens.ph_offsets | {0})
    statuses = [cal.status(day - dt.timedelta(k)) for k in offsets]
    plain = _plain(day)
    readings = set()
    for kinds in itertools.product(*(s.kinds for s in statuses)):
        weekday = day.weekday()
        if sens.weekdays and kinds[offsets.index(0)] == "workday":
            weekday = MAKEUP_WEEKDAY
        hits = frozenset(k for k, kind in zip(offsets, kinds, strict=True) if kind == "holiday")
        for school in (False, True) if sens.school else (False,):
            readings.add(_Facts(weekday, hits & sens.ph_offsets, school))
    ordered = tuple(sorted(readings, key=lambda f: (f != plain, f.weekday, sorted(f.ph_hits))))
    note = None
    if len(ordered) > 1:
        note = next((s.note for s in statuses if s.note), None)
        note = note or ("school holidays (SH) are not known" if sens.school else None)
    return ordered, note


@lru_cache(maxsize=65536)
def _window_special(cal: HolidayCalendar, sens: _Sensitivity, day: dt.date) -> bool:
    """True when the window (day-1, day) differs from the plain weekday reading."""
    before = day - dt.timedelta(1)
    today_readings, _ = _readings(cal, sens, day)
    before_readings, _ = _readings(cal, sens, before)
    return today_readings != (_plain(day),) or before_readings != (_plain(before),)


def _window_note(cal: HolidayCalendar, sens: _Sensitivity, day: dt.date) -> str:
    for d in (day, day - dt.timedelta(1)):
        note = _readings(cal, sens, d)[1]
        if note:
            return note
    return "holiday status unknown"


@lru_cache(maxsize=65536)
def _next_special(
    cal: HolidayCalendar, sens: _Sensitivity, start: dt.date, end: dt.date
) -> dt.date | None:
    """The first day in ``[start, end)`` whose window is special, or None."""
    if sens.school:
        return start
    shifts = sorted({k + s for k in sens.ph_offsets | {0} for s in (0, 1)})
    first = start - dt.timedelta(days=shifts[-1])
    last = end - dt.timedelta(days=shifts[0])
    best: dt.date | None = None
    for notable in cal.notable_days(first, last):
        if best is not None and notable + dt.timedelta(shifts[0]) >= best:
            break
        for shift in shifts:
            candidate = notable + dt.timedelta(shift)
            if start <= candidate < end and _window_special(cal, sens, candidate):
                best = candidate if best is None else min(best, candidate)
                break
    return best

"""The time step of a series: a pandas frequency (calendar-aware) or a fixed delta.

Calendar frequencies (years, quarters, months, weeks, business days, days in a time zone) have
no fixed length in nanoseconds: a yearly series has 365- and 366-day gaps, a business-day
series skips weekends, a local day across a DST change lasts 23 or 25 hours. Each row is mapped
to a period ordinal (its year, its month count, its business-day count, ...), so a slice is cut
exactly where the ordinal skips a period — a missing month — and never at the calendar's own
uneven gaps. Every function here works on one chunk of rows (sorted within each instance), so a
streaming import can apply it chunk by chunk.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

from knowit.errors import KnowItDataError

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
DAY_NS = 86_400 * 10**9
_EPOCH = np.datetime64("1970-01-01", "D")
# The step in words, per offset class (plural adds an s).
_UNIT_WORDS = {
    "YearBegin": "year", "YearEnd": "year", "QuarterBegin": "quarter", "QuarterEnd": "quarter",
    "MonthBegin": "month", "MonthEnd": "month", "Week": "week", "BusinessDay": "business day", "Day": "day",
}
_TICK_WORDS = {"Hour": "h", "Minute": "min", "Second": "s", "Milli": "ms", "Micro": "us", "Nano": "ns"}
HOW_TO_DECLARE = 'declare the step with --meta \'{"freq": "MS"}\' (a pandas frequency: YS, QE, MS, ME, W-MON, B, D, h, 15min) or \'{"time_delta": "1h"}\''


def parse_freq(freq: str, key: str = "meta.freq") -> pd.DateOffset:
    """A supported pandas offset from its alias; anything else is one clear error."""
    try:
        offset = to_offset(freq)
    except (ValueError, TypeError):
        raise KnowItDataError(f"{key}: {freq!r} is not a pandas frequency; e.g. YS, YE, QS, QE, MS, ME, W-MON, B, D, h, 15min") from None
    if offset.n <= 0:
        raise KnowItDataError(f"{key}: {freq!r} is not a positive step")
    if not isinstance(offset, pd.offsets.Tick) and type(offset).__name__ not in _UNIT_WORDS:
        raise KnowItDataError(f"{key}: {freq!r} ({type(offset).__name__}) is not supported; use YS, YE, QS, QE, MS, ME, W-MON, B, D or a fixed step such as h or 15min")
    return offset


def stored_ns(times: np.ndarray) -> np.ndarray:
    """Stored datetimes (float64 nanoseconds since 1970) as int64 nanoseconds, rounded to the
    microsecond. float64 holds a time of 2004-2112 only to within 256-512 ns, so a 10 ms step
    would read back as 9,999,872 or 10,000,128 ns (every row pair a gap); to the microsecond
    the stored value is exact again. Integer input (already nanoseconds) passes unchanged."""
    times = np.asarray(times)
    if np.issubdtype(times.dtype, np.integer):
        return times.astype(np.int64, copy=False)
    return np.rint(times / 1e3).astype(np.int64) * 1000


def _local(times_ns: np.ndarray, tz: str | None) -> pd.DatetimeIndex:
    index = pd.DatetimeIndex(np.asarray(times_ns, dtype=np.int64).view("datetime64[ns]"))
    if tz:
        index = index.tz_localize("UTC").tz_convert(tz).tz_localize(None)
    return index


def period_ordinals(times_ns: np.ndarray, offset: pd.DateOffset, tz: str | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """(ordinal of each row, whether the row lies on the offset's grid, ordinal step of one period).

    Two rows are consecutive periods exactly when their ordinals differ by the step. Ticks
    (h, min, s, ...) are fixed durations in absolute time: the ordinal is the time itself.
    """
    times_ns = np.asarray(times_ns, dtype=np.int64)
    if isinstance(offset, pd.offsets.Tick):
        return times_ns, np.ones(len(times_ns), dtype=bool), int(offset.nanos)
    local = _local(times_ns, tz)
    wall = local.asi8
    day_ns = wall % DAY_NS
    same_time = day_ns == (day_ns[0] if len(day_ns) else 0)  # one time of day for every row
    days = (wall - day_ns) // DAY_NS
    year, month, day = local.year.to_numpy(), local.month.to_numpy(), local.day.to_numpy()
    month_end = day == local.days_in_month.to_numpy()
    months = year.astype(np.int64) * 12 + month - 1
    name, n = type(offset).__name__, offset.n
    if name in ("YearBegin", "YearEnd"):
        on = (month == offset.month) & ((day == 1) if name == "YearBegin" else month_end)
        return year.astype(np.int64), on & same_time, n
    if name in ("QuarterBegin", "QuarterEnd"):
        on = ((month - offset.startingMonth) % 3 == 0) & ((day == 1) if name == "QuarterBegin" else month_end)
        return (months - (offset.startingMonth - 1)) // 3, on & same_time, n
    if name in ("MonthBegin", "MonthEnd"):
        on = (day == 1) if name == "MonthBegin" else month_end
        return months, on & same_time, n
    weekday = local.day_of_week.to_numpy()
    if name == "Week":
        on = same_time if offset.weekday is None else (weekday == offset.weekday) & same_time
        return days, on, 7 * n
    if name == "BusinessDay":
        dates = days.astype("datetime64[D]")
        return np.busday_count(_EPOCH, dates).astype(np.int64), (weekday < 5) & same_time, n
    return days, same_time, n  # Day: a calendar day, 23 or 25 hours across a DST change


def _candidates(first: pd.Timestamp) -> list[str]:
    """Calendar frequencies a series starting at ``first`` could have, coarsest first."""
    m = first.month
    q_start = MONTHS[(m - 1) % 3]
    q_end = MONTHS[12 - (12 - m) % 3 - 1]
    return [f"YS-{MONTHS[m - 1]}", f"YE-{MONTHS[m - 1]}", f"QS-{q_start}", f"QE-{q_end}", "MS", "ME", f"W-{WEEKDAYS[first.weekday()]}", "B", "D"]


@dataclass(frozen=True)
class TimeStep:
    """What was found: a frequency alias (``None`` if none fits) and a nominal step in the time unit."""

    freq: str | None
    delta: float
    regular_share: float  # share of consecutive row pairs exactly one step apart
    median: float = 0.0  # median positive step (what a jittered clock's rows are apart)


def _count(counts: dict, steps: np.ndarray) -> None:
    values, k = np.unique(steps, return_counts=True)
    for value, n in zip(values.tolist(), k.tolist()):
        counts[value] = counts.get(value, 0) + n


class StepCounter:
    """The step of rows sorted by (instance, time), read in chunks.

    Feed the chunks in order, each starting with the previous chunk's last row (so every pair of
    consecutive rows is seen once), then ``result()``. Only counts are kept: the pairs one period
    apart for each calendar frequency still possible, and how often each step occurs.
    """

    def __init__(self, *, dates: bool, tz: str | None = None):
        self.dates, self.tz = dates, tz
        self.pairs = 0  # consecutive rows of one instance
        self.steps: dict[float, int] = {}  # positive step in the time unit -> pairs
        self.calendar: dict[str, int] | None = None  # alias -> one-period pairs, while every row is on its grid
        self.time_of_day: int | None = None
        self.ns_steps: dict[int, int] = {}  # every step in ns, for a calendar frequency's nominal length

    def feed(self, times: np.ndarray, instance_idx: np.ndarray) -> StepCounter:
        same = instance_idx[1:] == instance_idx[:-1]
        self.pairs += int(same.sum())
        if self.dates and len(times):
            times_ns = np.asarray(times, dtype=np.int64)
            wall = _local(times_ns, self.tz).asi8
            if self.calendar is None:  # the first row fixes the candidates and the time of day
                self.time_of_day = int(wall[0] % DAY_NS)
                self.calendar = dict.fromkeys(_candidates(_local(times_ns[:1], self.tz)[0]), 0)
            if self.calendar and not np.all(wall % DAY_NS == self.time_of_day):
                self.calendar = {}  # hourly or finer data skips the calendar checks
            for alias in list(self.calendar):
                ordinals, on_grid, step = period_ordinals(times_ns, to_offset(alias), self.tz)
                if on_grid.all():
                    self.calendar[alias] += int(((np.diff(ordinals) == step) & same).sum())
                else:
                    del self.calendar[alias]
            if self.calendar:
                _count(self.ns_steps, np.diff(times_ns)[same])
        diffs = np.diff(np.asarray(times)).astype(np.float64)[same]  # int64 ns differenced before the cast: exact
        _count(self.steps, diffs[diffs > 0])
        return self

    def result(self) -> TimeStep:
        for alias, hits in (self.calendar or {}).items():
            share = hits / self.pairs if self.pairs else 0.0
            if share >= 0.5:
                return TimeStep(alias, _median(self.ns_steps) if self.pairs else 0.0, share)
        if not self.steps:
            return TimeStep(None, 1.0, 0.0)
        most = max(self.steps.values())
        delta = float(min(v for v, n in self.steps.items() if n == most))  # ties: the shortest step
        return TimeStep(tick_alias(delta) if self.dates else None, delta, most / max(1, self.pairs), _median(self.steps))


def irregular_hint(step: TimeStep, dates: bool) -> str:
    """What a refusal of irregular steps adds: the median step and, for dates, the rounding that
    puts a jittered clock on its grid (``times.dt.round('10ms')``)."""
    if step.median <= 0:
        return ""
    if not dates:
        return f"; the median step is {step.median:g}"
    grid = pd.Timedelta(int(round(step.median)), unit="ns")
    units = ("D", "h", "min", "s", "ms", "us", "ns")
    lead = next((k for k, u in enumerate(units) if grid >= pd.Timedelta(1, unit=u)), len(units) - 1)
    rounded = grid.round(units[min(lead + 1, len(units) - 1)])  # a unit finer than the step: 1.5 s stays 1.5 s
    alias = tick_alias(float(rounded.value)) or f"{int(rounded.value)}ns"
    return (f"; the median step is {step_in_words(alias, float(rounded.value), 'datetime')}: for a clock that jitters around it, "
            f"round the times first (pandas: times.dt.round('{alias}'))")


def _median(counts: dict[int, int]) -> float:
    """np.median of the multiset ``{value: count}``."""
    values = sorted(counts)
    total = sum(counts.values())
    cum = np.cumsum([counts[v] for v in values])
    lo = values[int(np.searchsorted(cum, (total - 1) // 2, side="right"))]
    hi = values[int(np.searchsorted(cum, total // 2, side="right"))]
    return (float(lo) + float(hi)) / 2


def detect_step(times: np.ndarray, instance_idx: np.ndarray, *, dates: bool, tz: str | None = None) -> TimeStep:
    """The step of rows sorted by (instance, time) (all of them at once; ``StepCounter`` for chunks).

    Dates try the calendar frequencies, coarsest first: the first whose grid holds every row and
    which is one period for at least half of the row pairs wins. Otherwise (and for numeric
    times) the most common positive step is the time delta; its frequency alias is kept when it
    has one (``h``, ``15min``).
    """
    return StepCounter(dates=dates, tz=tz).feed(times, instance_idx).result()


def tick_alias(delta_ns: float) -> str | None:
    """``h``, ``15min``, ``D``... for a fixed step in nanoseconds, if it is a whole number of units."""
    if delta_ns <= 0 or delta_ns != int(delta_ns):
        return None
    return to_offset(pd.Timedelta(int(delta_ns), unit="ns")).freqstr


def step_counts(times: np.ndarray, instance_idx: np.ndarray, *, freq: str | None, delta: float, tz: str | None = None,
                first_row: int = 0) -> np.ndarray:
    """For each row after the first: how many steps of the series' frequency lie between it and
    the row before (1: the next period; ``k > 1``: ``k - 1`` periods missing), 0 where a new
    instance starts or the distance is not a whole number of steps. Rows off the frequency's grid
    are an error naming the first (counted from ``first_row``, where a chunk of a longer series starts)."""
    new_instance = instance_idx[1:] != instance_idx[:-1]
    if freq is not None:
        offset = parse_freq(freq)
        ordinals, on_grid, step = period_ordinals(np.asarray(times, dtype=np.int64), offset, tz)
        if not on_grid.all():
            first = int(np.argmin(on_grid))
            when = _local(np.asarray(times[first:first + 1], dtype=np.int64), tz)[0]
            raise KnowItDataError(f"meta.freq: row {first_row + first} at {when} is not on the {freq!r} grid; {HOW_TO_DECLARE}")
        diff = np.diff(ordinals)
        counts = np.where(diff % step == 0, diff // step, 0)
    else:
        diff = np.diff(np.asarray(times)).astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            whole = np.round(diff / delta) if delta > 0 else np.zeros_like(diff)
        exact = np.abs(diff - whole * delta) <= 1e-6 * max(abs(delta), 1.0)
        counts = np.where(exact, whole, 0).astype(np.int64)
    counts[new_instance] = 0
    return counts


def slice_breaks(times: np.ndarray, instance_idx: np.ndarray, *, freq: str | None, delta: float, tz: str | None = None,
                 first_row: int = 0) -> np.ndarray:
    """For each row after the first: whether a new slice starts there (new instance, a missing
    period or a broken step); see ``step_counts``."""
    return step_counts(times, instance_idx, freq=freq, delta=delta, tz=tz, first_row=first_row) != 1


def periods_after(before: np.ndarray, counts: np.ndarray, *, freq: str | None, delta: float, tz: str | None = None) -> np.ndarray:
    """The times of the ``counts[i]`` periods that follow ``before[i]``, for every ``i`` in turn
    (nanoseconds for dates, as ``stored_ns`` gives them; else the time value itself)."""
    from knowit.data.windows import expand_ranges  # (windows imports torch: not at module level, for the CLI's start-up)

    counts = np.asarray(counts, dtype=np.int64)
    ends = np.cumsum(counts)
    nth = expand_ranges(np.ones(len(counts), dtype=np.int64), counts)  # 1..counts[i] per gap
    offset = parse_freq(freq) if freq is not None else None
    if offset is None or isinstance(offset, pd.offsets.Tick):
        step = float(offset.nanos) if offset is not None else float(delta)
        return np.repeat(np.asarray(before, dtype=np.float64), counts) + nth * step
    out = np.empty(len(nth), dtype=np.int64)
    local = _local(np.asarray(before, dtype=np.int64), tz)
    for k in range(1, int(counts.max()) + 1):  # one vectorised calendar shift per distance
        gaps = np.nonzero(counts >= k)[0]
        shifted = local[gaps] + k * offset
        if tz:
            shifted = shifted.tz_localize(tz, ambiguous=np.zeros(len(gaps), dtype=bool), nonexistent="shift_forward").tz_convert("UTC").tz_localize(None)
        out[ends[gaps] - counts[gaps] + k - 1] = shifted.asi8
    return out


# Rows per season of a calendar frequency (a multiple such as 2h or 15min has no obvious one).
SEASON_OF_FREQ = {"h": 24, "H": 24, "D": 7, "B": 5, "W": 52, "MS": 12, "M": 12, "ME": 12, "QS": 4, "Q": 4, "QE": 4}


def calendar_season(freq: str | None, time_kind: str | None, delta: float) -> tuple[int | None, str]:
    """``(rows per season, where it came from)`` of a series' step; ``(None, "")`` without one."""
    if freq:
        base = str(freq).split("-")[0]  # W-SUN, QS-JAN: the anchor does not change the season
        if base in SEASON_OF_FREQ:
            return SEASON_OF_FREQ[base], f"calendar frequency {freq}"
    if time_kind == "datetime":
        if np.isclose(delta, 3600e9):
            return 24, "hourly time step"
        if np.isclose(delta, DAY_NS):
            return 7, "daily time step"
    return None, ""


def step_in_words(freq: str | None, delta: float, time_kind: str) -> str:
    """``1 month``, ``1 business day``, ``1 h``, ``0.5`` (numeric time), ``1 row`` (no time column)."""
    if time_kind == "index":
        return "1 row"
    if time_kind != "datetime":
        return f"{delta:g}"
    if freq is None:
        return str(pd.Timedelta(int(delta), unit="ns"))
    offset = to_offset(freq)
    name = type(offset).__name__
    if name in _TICK_WORDS:
        return f"{offset.n} {_TICK_WORDS[name]}"
    word = _UNIT_WORDS.get(name, freq)
    return f"{offset.n} {word}{'s' if offset.n != 1 else ''}"


def display_times(times: np.ndarray, time_kind: str, tz: str | None = None) -> np.ndarray | pd.DatetimeIndex:
    """Stored times as users read them: dates (in their zone, when the import had one), else numbers."""
    if time_kind != "datetime":
        return times
    stamps = stored_ns(times).astype("datetime64[ns]")
    if not tz:
        return stamps
    return pd.DatetimeIndex(stamps).tz_localize("UTC").tz_convert(tz)

"""The one config model: site files and vendor presets, validated with pydantic.

A site file says *what* a site is (zone, capacity, hours, doors) and *how* its counts arrive
(source kind + preset + Airflow connection id + options). A preset is a data file that maps one
vendor format onto footfall's interval counts; the code that applies it is generic.
Errors name the file, the field and the reason, so the data team can fix a site without reading code.
"""

from __future__ import annotations

import itertools
import re
from datetime import date, time
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator, model_validator

from footfall import settings

SLUG = r"^[a-z0-9][a-z0-9_-]{0,62}$"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
RAW_RETENTION_DAYS = 30  # raw bodies may hold what a vendor logs beside counts (badge ids): keep them a month


class ConfigError(ValueError):
    """A site or preset file that cannot be used; the message names file, field and reason."""

    def __init__(self, path: Path | str, problems: list[str]):
        self.path = str(path)
        self.problems = problems
        super().__init__(f"{path}: " + "; ".join(problems))


class SourceKind(StrEnum):
    """How counts reach footfall (JSON or XML is the preset's decoder setting, not a kind)."""

    HTTP = "http"
    PUSH = "push"
    SQL = "sql"
    FILE = "file"


# Site files written before the one http kind; read as http, and checked against the preset's format.
LEGACY_KINDS = {"http_json": ("http", "json"), "http_xml": ("http", "xml")}


class Strict(BaseModel):
    """Unknown keys are typos in hand-written YAML: reject them."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --- opening hours -------------------------------------------------------------------------------

_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def parse_time_ranges(spec: str | list[str] | None) -> tuple[tuple[time, time], ...]:
    """Parse "08:00-12:00, 14:00-20:00" (or "closed") into ordered (open, close) pairs.

    "24:00" closes at midnight; a range may not wrap past midnight (split it over two days).
    """
    if spec is None:
        return ()
    parts = spec if isinstance(spec, list) else str(spec).split(",")
    ranges: list[tuple[time, time]] = []
    for part in parts:
        part = str(part).strip()
        if not part or part.lower() == "closed":
            continue
        m = _RANGE.match(part)
        if not m:
            raise ValueError(f"{part!r} is not a time range like 08:00-20:00")
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2):
            raise ValueError(f"{part!r} has an impossible time")
        start = time(h1, m1)
        end = time.max if h2 == 24 else time(h2, m2)
        if end <= start:
            raise ValueError(f"{part!r} closes before it opens")
        ranges.append((start, end))
    ranges.sort()
    for (_, e1), (s2, _) in itertools.pairwise(ranges):
        if s2 < e1:
            raise ValueError(f"ranges overlap in {spec!r}")
    return tuple(ranges)


TimeRanges = tuple[tuple[time, time], ...]


class OpeningHours(Strict):
    """Weekly hours in the site's local time, with dated exceptions and closed days."""

    regular: dict[str, TimeRanges] = Field(default_factory=dict)
    exceptions: dict[date, TimeRanges] = Field(default_factory=dict)
    closed_days: tuple[date, ...] = ()

    @field_validator("regular", mode="before")
    @classmethod
    def _regular(cls, value: Any) -> dict[str, TimeRanges]:
        if not isinstance(value, dict):
            raise ValueError("expected a mapping of weekday (mon..sun) to hours like 08:00-20:00")
        out = {}
        for day, spec in value.items():
            key = str(day).strip().lower()[:3]
            if key not in WEEKDAYS:
                raise ValueError(f"{day!r} is not a weekday (mon..sun)")
            out[key] = parse_time_ranges(spec)
        return out

    @field_validator("exceptions", mode="before")
    @classmethod
    def _exceptions(cls, value: Any) -> dict[Any, TimeRanges]:
        if not isinstance(value, dict):
            raise ValueError("expected a mapping of date (YYYY-MM-DD) to hours or 'closed'")
        return {day: parse_time_ranges(spec) for day, spec in value.items()}

    def hours_on(self, day: date) -> TimeRanges:
        """Opening ranges on one local date (empty when closed)."""
        if day in self.closed_days:
            return ()
        if day in self.exceptions:
            return self.exceptions[day]
        return self.regular.get(WEEKDAYS[day.weekday()], ())


# --- site ----------------------------------------------------------------------------------------


class Counter(Strict):
    """One door, gate or zone: its vendor reference and how its directions map to ours."""

    id: Annotated[str, Field(pattern=SLUG)]
    name: str | None = None
    ref: str = Field(description="vendor identifier: serial, channel, element id...")
    direction: Literal["normal", "swapped"] = "normal"
    connection_id: str | None = Field(default=None, description="overrides the source's connection")


class Source(Strict):
    """How this site's counts arrive. `kind` comes from the preset (a site file may repeat it);
    `options` are checked against the kind's options and the preset's own (see `option_model`)."""

    kind: SourceKind
    preset: str
    connection_id: str | None = Field(default=None, description="Airflow connection with URL and secrets")
    lookback_minutes: Annotated[int, Field(ge=0, le=7 * 24 * 60)] = 30
    timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 30.0
    options: dict[str, Any] = Field(default_factory=dict)


class QualityParams(Strict):
    """Per-site thresholds of the discrepancy checks (footfall.quality); defaults suit a library or museum."""

    reset_time: time = Field(default=time(0, 0), description="local time the site is empty; occupancy restarts at 0")
    imbalance_tolerance: Annotated[float, Field(ge=0, le=1)] = 0.1
    imbalance_high: Annotated[float, Field(ge=0, le=1)] = 0.25
    imbalance_min_count: Annotated[int, Field(ge=0)] = 50
    negative_occupancy_tolerance: Annotated[int, Field(ge=0)] = 5
    capacity_tolerance: Annotated[float, Field(ge=0)] = 0.0
    closed_grace_minutes: Annotated[int, Field(ge=0)] = 30
    closed_min_count: Annotated[int, Field(ge=0)] = 2
    closed_on_public_holidays: bool = True
    stale_minutes: Annotated[int, Field(gt=0)] = 60
    stuck_min_minutes: Annotated[int, Field(gt=0)] = 60
    stuck_min_expected: Annotated[float, Field(ge=0)] = 20.0
    spike_score: Annotated[float, Field(gt=0)] = 6.0
    spike_min_excess: Annotated[float, Field(ge=0)] = 10.0
    spike_min_history: Annotated[int, Field(ge=2)] = 3
    clock_max_shift_hours: Annotated[int, Field(ge=1, le=12)] = 3
    clock_min_gain: Annotated[float, Field(gt=0, lt=1)] = 0.5
    future_tolerance_minutes: Annotated[int, Field(ge=0)] = 10
    reset_window_minutes: Annotated[int, Field(ge=0)] = 60
    reset_min_drop: Annotated[int, Field(gt=0)] = 10
    door_tolerance: Annotated[float, Field(gt=0, le=1)] = 0.25
    door_min_count: Annotated[int, Field(ge=0)] = 50
    history_days: Annotated[int, Field(ge=0, le=366)] = 28
    checks_every_minutes: Literal[5, 10, 15, 20, 30, 60] = Field(
        default=60, description="live runs check the whole site-day this often (footfall.cadence); 5: every run"
    )


class Alerts(Strict):
    """Where a site's high-severity flags and failed runs are announced (secrets stay in Connections)."""

    email: tuple[str, ...] = ()
    webhook_connection_id: str | None = Field(default=None, description="Airflow connection: URL of a webhook")
    min_severity: Literal["low", "medium", "high"] = "high"


class TermPeriod(Strict):
    """A school or university term (inclusive local dates): students change when a place is busy."""

    name: str | None = None
    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> TermPeriod:
        if self.end < self.start:
            raise ValueError(f"term ends ({self.end}) before it starts ({self.start})")
        return self


class WeatherInput(Strict):
    """Hourly weather for forecasts: a CSV `time,temperature_c,precipitation_mm` (UTC), observations then forecast."""

    file: Path


class LevelThresholds(Strict):
    """Percent of capacity from which the shared level is medium, high, full (below medium it is low)."""

    medium: Annotated[int, Field(ge=1, le=100)] = 40
    high: Annotated[int, Field(ge=1, le=100)] = 70
    full: Annotated[int, Field(ge=1, le=100)] = 90

    @model_validator(mode="after")
    def _ordered(self) -> LevelThresholds:
        if not self.medium < self.high < self.full:
            raise ValueError(f"thresholds must rise: medium {self.medium} < high {self.high} < full {self.full}")
        return self


class Sharing(Strict):
    """What footfall.share publishes: public sites need no key; others only answer partner keys."""

    public: bool = False
    message: Annotated[str, Field(max_length=500)] | None = Field(default=None, description="notice shown to visitors")
    thresholds: LevelThresholds = Field(default_factory=LevelThresholds)


class Site(Strict):
    """A site file: one place that counts people."""

    id: Annotated[str, Field(pattern=SLUG)]
    name: str
    timezone: str
    capacity: Annotated[int, Field(gt=0)] | None = None
    country: str | None = Field(default=None, description="ISO country code, for public holidays")
    region: str | None = Field(default=None, description="holiday subdivision of the country, e.g. CA, BY")
    terms: tuple[TermPeriod, ...] = Field(default=(), description="school or university terms, for forecasts")
    forecast_resolution_minutes: Literal[5, 10, 15, 20, 30, 60] = 15
    weather: WeatherInput | None = Field(default=None, description="optional hourly weather, a forecast input")
    opening_hours: OpeningHours = Field(default_factory=OpeningHours)
    counters: Annotated[tuple[Counter, ...], Field(min_length=1)]
    source: Source
    tags: tuple[str, ...] = ()
    quality: QualityParams = Field(default_factory=QualityParams)
    alerts: Alerts = Field(default_factory=Alerts)
    sharing: Sharing = Field(default_factory=Sharing)
    retention_days: Annotated[int, Field(ge=1, le=3660)] = Field(
        default=RAW_RETENTION_DAYS,
        description="days raw vendor bodies are kept (the maintenance DAG removes older ones; counts stay)",
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone such as Europe/Paris") from None
        return value

    @model_validator(mode="before")
    @classmethod
    def _kind_from_preset(cls, data: Any) -> Any:
        """`source.kind` is the preset's; a site file that states another one is wrong."""
        source = data.get("source") if isinstance(data, dict) else None
        if not isinstance(source, dict) or not isinstance(source.get("preset"), str):
            return data
        said = source.get("kind")
        kind, fmt = LEGACY_KINDS.get(str(said), (said, None))
        preset = load_presets().get(source["preset"])
        if preset is None or (said is not None and kind not in set(SourceKind)):
            # the after-validator names the unknown preset; the field's own check the unknown kind
            return {**data, "source": {**source, "kind": kind}} if said is not None else data
        if said is not None and (kind != preset.kind.value or (fmt is not None and fmt != preset.format)):
            raise ValueError(
                f"source.kind is {said!r} but preset {preset.name!r} is {preset.label_kind!r}"
                " (leave kind out: it comes from the preset)"
            )
        return {**data, "source": {**source, "kind": preset.kind.value}}

    @model_validator(mode="after")
    def _counters_and_preset(self) -> Site:
        ids = [c.id for c in self.counters]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"counters: ids must be unique, repeated: {', '.join(dupes)}")
        preset = load_presets().get(self.source.preset)
        if preset is None:
            known = ", ".join(sorted(load_presets()))
            raise ValueError(f"source.preset {self.source.preset!r} is unknown (known: {known})")
        needs_connection = self.source.kind in (SourceKind.HTTP, SourceKind.SQL)
        if needs_connection and not self.source.connection_id and not all(c.connection_id for c in self.counters):
            raise ValueError(f"source.connection_id is required for kind {preset.label_kind}")
        model = option_model(preset)
        unknown = sorted(set(self.source.options) - set(model.model_fields))
        if unknown:
            accepted = ", ".join(sorted(model.model_fields)) or "none"
            raise ValueError(
                f"source.options: unknown option(s) {', '.join(map(repr, unknown))} for kind"
                f" {preset.kind.value} with preset {preset.name} (accepted: {accepted})"
            )
        try:
            model.model_validate(self.source.options)
        except ValidationError as err:
            raise ValueError("; ".join(f"source.options.{p}" for p in _format_errors(err))) from None
        return self

    @property
    def source_label(self) -> str:
        """`kind:preset` as named in errors and stored with landed payloads (http_json/http_xml for http)."""
        return f"{self.preset.label_kind}:{self.source.preset}"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def preset(self) -> Preset:
        return load_presets()[self.source.preset]

    def options(self) -> dict[str, Any]:
        """Preset defaults overridden by the site's own options."""
        return {**self.preset.options, **self.source.options}


# --- source options ------------------------------------------------------------------------------


class HttpOptions(Strict):
    """Options of every pulled source (the preset adds its own, e.g. res, base_path)."""


class PushOptions(Strict):
    """Options of a pushed source."""

    max_late_days: Annotated[int, Field(ge=0)] | None = Field(
        default=None, description="how many days back a pushed interval may still land"
    )


class SqlOptions(Strict):
    """Options of a site database read by the on-site query (footfall.sources.sql)."""

    query: str | None = Field(default=None, description="SELECT with :window_start, :window_end, aliased columns")
    db_timezone: str = Field(default="UTC", description="zone of naive database times: UTC, local or an IANA zone")


class FileOptions(Strict):
    """Options of a folder of exports (footfall.sources.files)."""

    folder: str | None = Field(default=None, description="folder of export files ({data_dir} is expanded)")
    pattern: str = Field(default="*", description="glob of the files to read")


KIND_OPTIONS: dict[SourceKind, type[Strict]] = {
    SourceKind.HTTP: HttpOptions,
    SourceKind.PUSH: PushOptions,
    SourceKind.SQL: SqlOptions,
    SourceKind.FILE: FileOptions,
}

# Types of the options presets declare (their defaults are in each preset's `options`).
PRESET_OPTION_TYPES: dict[str, Any] = {
    "res": str,
    "interval": str,
    "base_path": str,
    "report_type": str,
    "date_grouping": str,
    "utc_clock_with_local_offset": bool,
    "reset_time": str | int | time | None,
    "register_max": Annotated[int, Field(gt=0)] | None,
}


_OPTION_MODELS: dict[str, type[BaseModel]] = {}


def option_model(preset: Preset) -> type[BaseModel]:
    """The typed options of a site using `preset`: its kind's options plus the preset's own (extra forbidden)."""
    key = f"{preset.name}:{preset.kind.value}:{sorted(preset.options.items())!r}"
    if key not in _OPTION_MODELS:
        fields: dict[str, Any] = {name: (PRESET_OPTION_TYPES.get(name, Any), d) for name, d in preset.options.items()}
        _OPTION_MODELS[key] = create_model(f"{preset.name}_options", __base__=KIND_OPTIONS[preset.kind], **fields)
    return _OPTION_MODELS[key]


# --- presets -------------------------------------------------------------------------------------


class Pagination(Strict):
    """How a paged API is walked, by strategy name; each page is landed as its own payload.

    `page`: `param` carries the page number (from `first`, default 1); `offset`: `param` carries the
    record offset (from `first`, default 0); both stop at a page with fewer than `size` records.
    `next_link`: the body holds the next page's URL at `next_path` (absolute or relative); stop when absent.
    `size_param` (optional) sends `size` as the page size.
    """

    strategy: Literal["page", "offset", "next_link"]
    param: str = "page"
    size_param: str | None = None
    size: Annotated[int, Field(gt=0)] = 100
    first: int | None = None
    next_path: str | None = None
    max_pages: Annotated[int, Field(gt=0, le=10_000)] = 100

    @model_validator(mode="after")
    def _complete(self) -> Pagination:
        if self.strategy == "next_link" and not self.next_path:
            raise ValueError("pagination: next_link needs next_path (where the body gives the next URL)")
        return self

    @property
    def start(self) -> int:
        return self.first if self.first is not None else (1 if self.strategy == "page" else 0)


class RequestTemplate(Strict):
    """One HTTP request, rendered per window (and per counter when it names `{counter_ref}`).

    Templates are Python format strings; the variables are `start`/`end` (the window in the
    source's time zone), `date_from`/`date_to` (local dates covered, inclusive), `counter_ref`,
    and every option, so `"{date_from:%Y%m%d}-{date_to:%Y%m%d}"` renders an Axis date range.
    """

    method: Literal["GET", "POST"] = "GET"
    path: str
    query: dict[str, str] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    window: Literal["instants", "local_days"] = Field(
        default="instants", description="local_days: the API answers whole local dates (Axis date=)"
    )
    pagination: Pagination | None = None

    @property
    def per_counter(self) -> bool:
        text = self.path + "".join(self.query.values()) + (self.body or "")
        return "{counter_ref" in text


Paths = str | tuple[str, ...]


class FieldMap(Strict):
    """Where each measure sits in one record.

    A path is dotted (`timeSpan.startTime`); `^.` climbs to the enclosing record (`^.from`, `^^.element-id`),
    `/` starts at the document (`/Properties.TimeZone`); in XML a key is an attribute, else a child's text
    (`#text` is the element's own text). A tuple lists alternatives, first present wins (firmware variants).
    `interval_start` may join paths as a template: `"{^.Date} {StartTime}"`.
    Long formats (one record per direction) name `label` and `value`; `Preset.labels` maps labels to measures.
    """

    interval_start: Paths | None = Field(default=None, description="required unless times are stamped on receipt")
    interval_end: Paths | None = None
    entries: Paths | None = None
    exits: Paths | None = None
    occupancy: Paths | None = None
    counter_ref: Paths | None = Field(default=None, description="path in the record; else payload or request")
    label: Paths | None = None
    value: Paths | None = None

    @model_validator(mode="after")
    def _long_format(self) -> FieldMap:
        if (self.label is None) != (self.value is None):
            raise ValueError("fields: label and value go together (one record per direction)")
        return self


class TimeSpec(Strict):
    """How the vendor writes instants, and which clock they are on.

    format: `iso`, `epoch_s`, `epoch_ms`, `received` (no time in the body: the moment it was received),
    or a strptime format. zone: `local` (site zone, no offset; the repeated autumn hour is ambiguous),
    `utc`, or `offset` (each value carries its offset). `utc_offset_hours`/`dst_flag` name fields giving
    the device's offset (Brickstream); `epoch_field`, when a record has it, wins over the text time.
    Each may list alternatives (vendors spell tags differently from their documentation).
    """

    format: str = "iso"
    zone: Literal["local", "utc", "offset"] = "local"
    utc_offset_hours: Paths | None = None
    dst_flag: Paths | None = None
    epoch_field: Paths | None = None

    @field_validator("utc_offset_hours", "dst_flag", "epoch_field", mode="before")
    @classmethod
    def _list_to_tuple(cls, value: Any) -> Any:
        return tuple(value) if isinstance(value, list) else value


class WaitHistogram(Strict):
    """A histogram of waits per record (Irisys "total wait" bins): how many people waited how long.

    `counts` is the list of people per bin; bin i holds waits in [min_seconds + i * bin_seconds,
    min_seconds + (i + 1) * bin_seconds), the first bin also what is shorter (a device's first bin
    starts at its minimum). The record's mean wait is taken at the bins' middles; `served` is the total.
    """

    counts: Paths = Field(description="path to the list of people per wait bin")
    bin_seconds: Paths = Field(description="path to a bin's width in seconds")
    min_seconds: Paths = Field(description="path to where the first bin starts, in seconds")


class QueueMeasures(Strict):
    """Where a queue-counting device's measures sit, beside (or instead of) its counts.

    Queue statistics (people waiting, their wait, the queue's outflow) land in `queue_measure`, one row
    per (queue, interval); they are read only through this section. Paths work as in `fields`, relative
    to `records` (its own dotted path in the document). Long formats name `label` and `value`, and
    `labels` maps each label to a measure; `wait_histogram` reads wait bins instead. Times are read with
    the preset's `time` format and zone (a local time without offset is the site's).
    """

    records: Paths = Field(description="dotted path to the queue records")
    filter: dict[str, str] = Field(default_factory=dict, description="keep records whose path has this value")
    interval_start: Paths
    interval_end: Paths
    queue_ref: Paths = Field(description="the queue zone's id (a template like counter_ref)")
    label: Paths | None = None
    value: Paths | None = None
    labels: dict[str, Literal["queue_length", "wait_seconds", "served"]] = Field(default_factory=dict)
    wait_histogram: WaitHistogram | None = None

    @field_validator("records", mode="before")
    @classmethod
    def _list_to_tuple(cls, value: Any) -> Any:
        return tuple(value) if isinstance(value, list) else value

    @model_validator(mode="after")
    def _one_way(self) -> QueueMeasures:
        if (self.label is None) != (self.value is None):
            raise ValueError("queue: label and value go together (one record per measure)")
        if (self.label is None) == (self.wait_histogram is None):
            raise ValueError("queue: give either label/value with labels, or wait_histogram")
        if self.label is not None and not self.labels:
            raise ValueError("queue.labels: a long format needs labels mapping each label to a queue measure")
        return self


class Preset(Strict):
    """A vendor format as data: request, record location, field mapping, time and measure semantics.

    `records` is a dotted path to the records: `name[]` iterates a list (or repeated XML element) and keeps
    it as an enclosing record, `name{}` iterates a mapping as `[key, value]` pairs; the last segment is
    always iterated. A tuple lists alternative locations (wrapped or bare-list answers).
    Measures: `interval` counts per [start, start + interval); `cumulative` running totals (see
    footfall.semantics: options `reset_time` and `register_max`); `occupancy` snapshots.
    """

    name: Annotated[str, Field(pattern=SLUG)]
    kind: SourceKind
    description: str
    format: Literal["json", "xml", "csv"]
    request: RequestTemplate | None = None
    records: Paths = Field(default="", description="dotted path to the list of records; empty = root")
    one_record: bool = Field(default=False, description="the records path names a single object (live values)")
    filter: dict[str, str] = Field(default_factory=dict, description="keep records whose path has this value")
    payload_counter_ref: Paths | None = Field(default=None, description="dotted path to the device id")
    fields: FieldMap
    time: TimeSpec = Field(default_factory=TimeSpec)
    interval: str | None = Field(
        default=None,
        description="native interval length, e.g. '15m' or '{res}' (an option); with fields.interval_end, "
        "only for records that lack an end",
    )
    interval_path: str | None = Field(default=None, description="document path giving the interval length")
    interval_path_unit: Literal["s", "m"] = "s"
    measure: Literal["interval", "cumulative", "occupancy"] = "interval"
    labels: dict[str, Literal["entries", "exits", "occupancy"]] = Field(default_factory=dict)
    queue: QueueMeasures | None = Field(default=None, description="queue lengths and waits (queue_measure)")
    hook: str | None = Field(default=None, description="a function in footfall.hooks that reshapes the document")
    options: dict[str, Any] = Field(default_factory=dict)
    max_body_bytes: int = 20 * 1024 * 1024
    family: str | None = Field(default=None, description="vendor family, for the per-vendor Airflow pool")
    shared_api: bool = Field(
        default=False,
        description="every site is read through the vendor's cloud API, whose rate limit one account shares: "
        "their syncs queue in one Airflow pool per vendor family (devices pulled one by one, pushes and the "
        "connector share no limit, so they take no pool)",
    )

    @field_validator("records", "payload_counter_ref", mode="before")
    @classmethod
    def _list_to_tuple(cls, value: Any) -> Any:
        return tuple(value) if isinstance(value, list) else value

    @model_validator(mode="after")
    def _consistent(self) -> Preset:
        if self.fields.interval_end is not None and self.interval_path is not None:
            raise ValueError("interval_path: each record gives its length (fields.interval_end), remove one of them")
        if (self.fields.interval_start is None) != (self.time.format == "received"):
            raise ValueError("fields.interval_start: required, except when times are stamped on receipt (received)")
        snapshots = self.measure == "occupancy"  # kept per 5 minutes, whatever the device's rhythm
        if snapshots and self.interval is not None:
            raise ValueError("interval: occupancy snapshots are kept per 5 minutes; remove it")
        if not snapshots and self.fields.interval_end is None and self.interval is None and self.interval_path is None:
            raise ValueError("interval: give interval, interval_path or fields.interval_end (the native length)")
        if self.interval_path is not None and self.interval is None:
            raise ValueError("interval: interval_path needs interval for a document that lacks it")
        if self.fields.label is not None and not self.labels:
            raise ValueError("labels: a long format (fields.label) needs labels mapping each label to a measure")
        if self.hook is not None:
            from footfall import hooks

            if self.hook not in hooks.HOOKS:
                known = ", ".join(sorted(hooks.HOOKS))
                raise ValueError(f"hook: {self.hook!r} is not in footfall.hooks (known: {known})")
        return self

    @property
    def label_kind(self) -> str:
        """The kind as source labels name it: http_json or http_xml for http (labels stored before the
        one http kind stay the same), else the kind."""
        return f"http_{self.format}" if self.kind == SourceKind.HTTP else self.kind.value

    @property
    def pool(self) -> str | None:
        """Airflow pool shared by every site read through this vendor's cloud API (its rate limit is the
        account's, not a site's); None where each site is its own device, push or connector: a pool there
        would only queue 1,000 independent syncs behind a handful of slots."""
        return f"vendor_{self.family or self.name.split('_')[0]}" if self.shared_api else None


def _format_errors(err: ValidationError) -> list[str]:
    out = []
    for e in err.errors():
        msg = e["msg"].removeprefix("Value error, ")
        where = ".".join(str(p) for p in e["loc"])
        # Whole-model checks carry no location; their messages start with the field they are about.
        out.append(f"{where}: {msg}" if where else msg)
    return out


def _read_yaml(path: Path, text: str | None = None) -> Any:
    try:
        # libyaml's loader (same safe constructors): 7x faster, and the dag-processor reads every site file.
        return yaml.load(path.read_text(encoding="utf-8") if text is None else text, Loader=SAFE_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "(file)"
        raise ConfigError(path, [f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})"]) from None
    except OSError as exc:
        raise ConfigError(path, [f"(file): cannot read ({exc.strerror})"]) from None


@cache
def load_presets(directory: Path | None = None) -> dict[str, Preset]:
    """Every preset file, by name; a broken preset is a packaging bug, so it raises."""
    directory = directory or settings.presets_dir()
    presets: dict[str, Preset] = {}
    for path in sorted(directory.glob("*.yaml")):
        data = _read_yaml(path)
        try:
            preset = Preset.model_validate(data)
        except ValidationError as err:
            raise ConfigError(path, _format_errors(err)) from None
        if preset.name != path.stem:
            raise ConfigError(path, [f"name: {preset.name!r} must match the file name {path.stem!r}"])
        presets[preset.name] = preset
    return presets


# Validated site files by path, with the content they were read from. The dag-processor parses the
# registry in a process forked from one that warmed this (the footfall plugin), so a parse re-reads
# every file (cheap) but decodes and validates only the files whose content changed.
_SITE_CACHE: dict[Path, tuple[bytes, Site | ConfigError]] = {}


def load_site(path: Path) -> Site:
    """Validate one site file; the file name (without .yaml) must be the site id.

    A file whose bytes are those of the last read in this process (or its parent) is not decoded or
    validated again: same bytes, same Site (or the same error). Keyed by content, not mtime, since
    two writes within the file system's timestamp tick can leave the same mtime and size."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(path, [f"(file): cannot read ({exc.strerror})"]) from None
    hit = _SITE_CACHE.get(path)
    if hit is not None and hit[0] == raw:
        if isinstance(hit[1], ConfigError):
            raise hit[1]
        return hit[1]
    try:
        site = _validate_site(path, raw)
    except ConfigError as err:
        _SITE_CACHE[path] = (raw, err)
        raise
    _SITE_CACHE[path] = (raw, site)
    return site


def cached_site_files() -> int:
    """How many site files this process has validated and kept (0: nothing warmed yet)."""
    return len(_SITE_CACHE)


def _validate_site(path: Path, raw: bytes) -> Site:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(path, [f"(file): not UTF-8 text ({exc.reason})"]) from None
    data = _read_yaml(path, text)
    if not isinstance(data, dict):
        raise ConfigError(path, ["(file): expected a mapping of site fields"])
    try:
        site = Site.model_validate(data)
    except ValidationError as err:
        raise ConfigError(path, _format_errors(err)) from None
    if site.id != path.stem:
        raise ConfigError(path, [f"id: {site.id!r} must match the file name {path.stem!r}"])
    return site


def site_path(site_id: str, directory: Path | None = None) -> Path:
    return (directory or settings.sites_dir()) / f"{site_id}.yaml"


def load_registry(directory: Path | None = None) -> tuple[dict[str, Site], list[ConfigError]]:
    """All valid sites by id, and one error per broken file (a bad file never hides the others)."""
    directory = directory or settings.sites_dir()
    sites: dict[str, Site] = {}
    errors: list[ConfigError] = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            site = load_site(path)
        except ConfigError as err:
            errors.append(err)
            continue
        sites[site.id] = site
    return sites, errors


def get_site(site_id: str, directory: Path | None = None) -> Site:
    """One site by id (reads only its own file, so a task run parses one YAML)."""
    path = site_path(site_id, directory)
    if not path.exists():
        raise ConfigError(path, [f"(file): no site file for site {site_id!r}"])
    return load_site(path)

"""The public API's responses: only aggregates (counts, percents, forecasts, hours), never raw data or ids."""

from __future__ import annotations

import datetime as dt
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from footfall.share.levels import Level

Percent = int | None


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorOut(Out):
    reason: str = Field(description="why the request was refused, in English")


class SiteOut(Out):
    id: str
    name: str
    timezone: str = Field(description="IANA zone; every instant in the API is UTC")
    capacity: int | None
    links: dict[str, str] = Field(description="paths of the site's resources: now, today, forecast, hours, embed")


class SitesOut(Out):
    sites: list[SiteOut]


class NextChange(Out):
    open: bool = Field(description="whether the site is open after the change")
    at: datetime


class NowOut(Out):
    site: str
    name: str
    timezone: str
    as_of: datetime | None = Field(description="end of the last loaded interval (UTC), null before any data")
    age_seconds: int | None = Field(description="seconds since as_of")
    fresh: bool = Field(description="as_of is within the site's expected delay (quality.stale_minutes)")
    open: bool = Field(description="from opening hours, exceptions and public holidays")
    occupancy: int | None = Field(description="corrected occupancy of the last interval, when fresh")
    capacity: int | None
    percent: Percent = Field(ge=0, le=100, description="occupancy as a percent of capacity, 0-100")
    level: Level
    wait_minutes: float | None = Field(description="forecast wait to get in now, null when none")
    usual_percent: Percent = Field(ge=0, le=100, description="typical percent for this weekday and half hour")
    next_change: NextChange | None
    message: str | None = Field(description="the site's notice")


class TodaySlot(Out):
    start: datetime
    observed_percent: Percent = Field(ge=0, le=100)
    forecast_percent: Percent = Field(ge=0, le=100)
    forecast_low: Percent = Field(ge=0, le=100, description="10 % quantile")
    forecast_high: Percent = Field(ge=0, le=100, description="90 % quantile")
    usual_percent: Percent = Field(ge=0, le=100)
    wait_minutes: float | None


class TodayOut(Out):
    site: str
    date: dt.date = Field(description="the local day")
    timezone: str
    as_of: datetime | None
    slots: list[TodaySlot] = Field(description="half hours of the local day (46 or 50 on DST days)")


class ForecastSlotOut(Out):
    start: datetime
    forecast_percent: Percent = Field(ge=0, le=100)
    forecast_low: Percent = Field(ge=0, le=100)
    forecast_high: Percent = Field(ge=0, le=100)
    forecast_occupancy: float | None = Field(description="median forecast occupancy (people)")
    wait_minutes: float | None


class ForecastOut(Out):
    site: str
    days: int
    slots: list[ForecastSlotOut] = Field(description="half hours from now's to the end of the last local day")


class OpenRange(Out):
    open: datetime
    close: datetime


class DayHoursOut(Out):
    date: dt.date
    open: bool = Field(description="open at some time of the day")
    ranges: list[OpenRange]
    note: str | None = Field(description="exception, closed_day or public_holiday when the week's hours do not apply")


class HoursOut(Out):
    site: str
    timezone: str
    week: int
    days: list[DayHoursOut]

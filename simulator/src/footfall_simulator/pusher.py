"""Simulated devices that push: every vendor push preset's bodies of the traffic model, POSTed to the API.

A pulled device answers when asked; a pushing one calls us. Each body is what a Xovis sensor sends
after a counting interval (one line = one `element`, fw/bw = in/out, times with the sensor's UTC
offset), built from the same deterministic traffic as the pulled devices, and sent with the site's
bearer token to `/v1/push/xovis_count_push/<site>`, exactly as a sensor configured with that
endpoint would. A sensor back from an outage sends its backlog the same way, one interval per body.

The other vendor push presets get the same treatment (PUSH_FORMATS), each body in the shape of that
preset's sample fixture, so tests and demos can drive every push parser with known counts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import quoteattr

import requests

from .traffic import DeviceProfile, SimInterval, count_intervals

XOVIS_PRESET = "xovis_count_push"
XOVIS_RESOLUTIONS = {1: "ONE_MINUTE", 5: "FIVE_MINUTES", 15: "FIFTEEN_MINUTES", 60: "ONE_HOUR"}


def _local_iso(moment: datetime, profile: DeviceProfile) -> str:
    return moment.astimezone(profile.tz).isoformat(timespec="seconds")


def xovis_count_push(profile: DeviceProfile, interval: SimInterval, sent_at: datetime, group: str = "") -> bytes:
    """One Xovis count push body: the sensor's line `profile.ref` over one interval."""
    element_id: int | str = int(profile.ref) if profile.ref.isdigit() else profile.ref
    start, end = _local_iso(interval.start_utc, profile), _local_iso(interval.end_utc, profile)
    counts = [{"value": interval.entries, "label": "fw"}, {"value": interval.exits, "label": "bw"}]
    doc = {
        "sensor-time": {"timezone": profile.timezone, "time": _local_iso(sent_at, profile)},
        "status": {"code": "OK"},
        "content": {
            "element": [
                {
                    "element-id": element_id,
                    "element-name": profile.name or f"Line {profile.ref}",
                    "from": start,
                    "to": end,
                    "resolution": XOVIS_RESOLUTIONS.get(interval.minutes, f"{interval.minutes}_MINUTES"),
                    "measurement": [{"from": start, "to": end, "value": counts}],
                }
            ]
        },
        "sensor-info": {
            "serial-number": f"SIM-XOVIS-{profile.ref}",
            "name": profile.name or f"PC2S-{profile.ref}",
            "group": group,
            "device-type": "PC2SE",
        },
    }
    return json.dumps(doc).encode("utf-8")


def xovis_live_push(
    profile: DeviceProfile, interval: SimInterval, sent_at: datetime, group: str = "", total_before: int = 0
) -> bytes:
    """One Xovis live push body: counter `profile.ref`'s running total of entries around one interval.

    The counter counts one direction only, so exits are not sent. Two frames: the total at the start
    and at the end; the parser gives the rise to the minute before the end frame, so an interval of
    5 minutes or less reads back as itself. `total_before` continues the running total across bodies.
    """
    counter_id: int | str = int(profile.ref) if profile.ref.isdigit() else profile.ref
    readings = ((interval.start_utc, total_before), (interval.end_utc, total_before + interval.entries))
    frames = [
        {
            "time": _epoch_ms(moment),
            "events": [{"category": "COUNT", "attributes": {"counter_id": counter_id, "counter_value": value}}],
        }
        for moment, value in readings
    ]
    doc = {
        "live_data": {
            "package_info": {"version": "5.0", "id": _epoch_ms(sent_at)},
            "sensor_info": {"serial_number": f"SIM-XOVIS-{profile.ref}"},
            "frames": frames,
        }
    }
    return json.dumps(doc).encode("utf-8")


def axis_data_push(profile: DeviceProfile, interval: SimInterval, sent_at: datetime, group: str = "") -> bytes:
    """One Axis Retail Data push body: in/out people counts of one interval, UTC and local times."""
    utc_from, utc_to = _utc_iso(interval.start_utc), _utc_iso(interval.end_utc)
    local = {
        m: m.astimezone(profile.tz).replace(tzinfo=None).isoformat(timespec="seconds")
        for m in (interval.start_utc, interval.end_utc, sent_at)
    }
    items = [
        {"direction": "in", "count": interval.entries, "classification": "human"},
        {"direction": "out", "count": interval.exits, "classification": "human"},
    ]
    doc = {
        "apiName": "retail-data",
        "apiVersion": "1.0",
        "utcSent": _utc_iso(sent_at),
        "localSent": local[sent_at],
        "data": {
            "utcFrom": utc_from,
            "utcTo": utc_to,
            "localFrom": local[interval.start_utc],
            "localTo": local[interval.end_utc],
            "measurements": [{"kind": "people-counts", "utcFrom": utc_from, "utcTo": utc_to, "items": items}],
        },
    }
    return json.dumps(doc).encode("utf-8")


def irisys_countlogs(profile: DeviceProfile, interval: SimInterval, sent_at: datetime, group: str = "") -> bytes:
    """One Irisys CountLogs push body: register 1 of device SIM-IRS-<ref> over one log period."""
    log = {
        "StartTime": _local_iso(interval.start_utc, profile),
        "EndTime": _local_iso(interval.end_utc, profile),
        "Counts": [{"RegisterId": 1, "Name": "In/Out", "In": interval.entries, "Out": interval.exits}],
    }
    doc = {
        "SerialNumber": f"SIM-IRS-{profile.ref}",
        "DeviceName": profile.name or f"Counter {profile.ref}",
        "FirmwareVersion": "4.2",
        "CountLogs": [log],
    }
    return json.dumps(doc).encode("utf-8")


def brickstream_xml(profile: DeviceProfile, interval: SimInterval, sent_at: datetime, group: str = "") -> bytes:
    """One Brickstream push body (schema 5: UnixStartTime present): object 0 of device SIM-BS-<ref>.

    Date/StartTime are the local wall clock, TimeZone the standard offset in hours and DST the flag,
    as a device set to the profile's zone sends them; the parser reads UnixStartTime first.
    """
    start, end = interval.start_utc.astimezone(profile.tz), interval.end_utc.astimezone(profile.tz)
    dst = start.dst() or timedelta(0)
    standard_hours = ((start.utcoffset() or timedelta(0)) - dst).total_seconds() / 3600
    device = quoteattr(f"SIM-BS-{profile.ref}")
    name = quoteattr(profile.name or f"Entrance {profile.ref}")
    count = (
        f'<Count StartTime="{start:%H:%M:%S}" EndTime="{end:%H:%M:%S}"'
        f' UnixStartTime="{int(interval.start_utc.timestamp())}"'
        f' Enters="{interval.entries}" Exits="{interval.exits}" Status="0"/>'
    )
    xml = (
        '<?xml version="1.0"?>\n'
        f'<Metrics SiteId={quoteattr(group or "sim")} DeviceId={device} Devicename={name} DivisionId="1">\n'
        f"  <Properties><Version>5</Version><TransmitTime>{int(sent_at.timestamp())}</TransmitTime>"
        f"<SerialNumber>{device[1:-1]}</SerialNumber><TimeZone>{standard_hours:g}</TimeZone>"
        f"<DST>{1 if dst else 0}</DST><HwPlatform>2D</HwPlatform></Properties>\n"
        f'  <ReportData Interval="{interval.minutes}">\n'
        f'    <Report Date="{start:%Y-%m-%d}">\n'
        f'      <Object Id="0" DeviceId={device} Devicename={name} ObjectType="0" Name="Door">\n'
        f"        {count}\n"
        "      </Object>\n"
        "    </Report>\n"
        "  </ReportData>\n"
        "</Metrics>\n"
    )
    return xml.encode("utf-8")


@dataclass(frozen=True)
class PushFormat:
    """How a simulated device of a push preset writes a body; `cumulative` bodies carry a running total."""

    render: Callable[..., bytes]
    content_type: str
    cumulative: bool = False


PUSH_FORMATS: dict[str, PushFormat] = {
    XOVIS_PRESET: PushFormat(xovis_count_push, "application/json"),
    "xovis_live_push": PushFormat(xovis_live_push, "application/json", cumulative=True),
    "axis_data_push": PushFormat(axis_data_push, "application/json"),
    "irisys_countlogs": PushFormat(irisys_countlogs, "application/json"),
    "brickstream_xml": PushFormat(brickstream_xml, "application/xml"),
}


def render_bodies(
    preset: str, profile: DeviceProfile, intervals: Iterable[SimInterval], group: str = ""
) -> list[bytes]:
    """The bodies a device of `preset` sends for these intervals, oldest first, one per interval."""
    fmt = push_format(preset)
    bodies, total = [], 0
    for interval in intervals:
        sent_at = datetime.now(UTC)
        if fmt.cumulative:
            bodies.append(fmt.render(profile, interval, sent_at, group=group, total_before=total))
            total += interval.entries
        else:
            bodies.append(fmt.render(profile, interval, sent_at, group=group))
    return bodies


def push_format(preset: str) -> PushFormat:
    """The simulated body format of a push preset; a clear error for one the simulator cannot send."""
    try:
        return PUSH_FORMATS[preset]
    except KeyError:
        raise ValueError(f"the simulator cannot push preset {preset!r}; it can push {sorted(PUSH_FORMATS)}") from None


def _epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def push_backlog(
    api_url: str,
    site_id: str,
    token: str,
    profiles: Iterable[DeviceProfile],
    start: datetime,
    end: datetime,
    *,
    resolution_minutes: int = 15,
    seed: int = 0,
    session: requests.Session | None = None,
    preset: str = XOVIS_PRESET,
) -> int:
    """POST every interval in [start, end) of each line, oldest first; returns the bodies accepted.

    Raises RuntimeError with the API's reason on any refusal: a demo or test that pushes expects
    every body to be landed.
    """
    fmt = push_format(preset)
    http = session or requests.Session()
    url = f"{api_url.rstrip('/')}/v1/push/{preset}/{site_id}"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": fmt.content_type}
    sent = 0
    for profile in profiles:
        intervals = count_intervals(profile, start, end, resolution_minutes, seed, end)
        for body in render_bodies(preset, profile, intervals, group=site_id):
            answer = http.post(url, data=body, headers=headers, timeout=30)
            if not answer.ok:
                raise RuntimeError(f"push of line {profile.ref} to {url} refused ({answer.status_code}): {answer.text}")
            sent += 1
    return sent

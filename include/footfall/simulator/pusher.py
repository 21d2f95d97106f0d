"""Simulated devices that push: Xovis count pushes of the traffic model, POSTed to the ingestion API.

A pulled device answers when asked; a pushing one calls us. Each body is what a Xovis sensor sends
after a counting interval (one line = one `element`, fw/bw = in/out, times with the sensor's UTC
offset), built from the same deterministic traffic as the pulled devices, and sent with the site's
bearer token to `/v1/push/xovis_count_push/<site>`, exactly as a sensor configured with that
endpoint would. A sensor back from an outage sends its backlog the same way, one interval per body.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime

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
) -> int:
    """POST every interval in [start, end) of each line, oldest first; returns the bodies accepted.

    Raises RuntimeError with the API's reason on any refusal: a demo or test that pushes expects
    every body to be landed.
    """
    http = session or requests.Session()
    url = f"{api_url.rstrip('/')}/v1/push/{XOVIS_PRESET}/{site_id}"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    sent = 0
    for profile in profiles:
        for interval in count_intervals(profile, start, end, resolution_minutes, seed, end):
            body = xovis_count_push(profile, interval, datetime.now(UTC), group=site_id)
            answer = http.post(url, data=body, headers=headers, timeout=30)
            if not answer.ok:
                raise RuntimeError(f"push of line {profile.ref} to {url} refused ({answer.status_code}): {answer.text}")
            sent += 1
    return sent

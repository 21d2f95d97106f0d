"""HTTP server emulating people-counting devices, so the pipeline is tested over real HTTP.

Every simulated device lives under ``/devices/{ref}`` followed by its vendor's own
path; vendor protocols are entries of a small route table (:data:`ROUTES`), added with
:func:`register_route`. ``/healthz`` answers liveness and ``/_sim/faults`` lets tests
inject faults at run time.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import re
import secrets
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit
from xml.etree import ElementTree

from .faults import Fault, counts_with_faults, http_faults_for
from .traffic import DeviceProfile, local_day_bounds

__all__ = [
    "ROUTES",
    "DeviceRequest",
    "DeviceResponse",
    "HttpError",
    "SimulatorHandle",
    "register_route",
    "serve",
    "start_in_thread",
]

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]

MAX_CONTROL_BODY = 64 * 1024
MAX_DEVICE_BODY = 1024 * 1024
MAX_EXPORT_DAYS = 366
_REF_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@~-]{0,127}")


def _utc_now() -> datetime:
    return datetime.now(UTC)


class HttpError(Exception):
    """Raised by handlers to answer a status with ``{"error": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def bad_request(message: str) -> HttpError:
    return HttpError(HTTPStatus.BAD_REQUEST, message)


# --- route table ------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceRequest:
    """A request to one simulated device, with everything a vendor handler needs."""

    ref: str
    profile: DeviceProfile
    method: str
    path: str  # the vendor path, after /devices/{ref}
    path_params: Mapping[str, str]
    query: Mapping[str, list[str]]  # blank values kept: "?export-json" gives {"export-json": [""]}
    headers: Message
    body: bytes
    now_utc: datetime
    seed: int
    faults: tuple[Fault, ...]  # faults that apply to this device
    state: SimulatorState | None = None  # issued tokens and nonces, for routes that require auth

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default


def _render_json(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode("utf-8")


@dataclass
class DeviceResponse:
    """What a vendor handler answers; ``window_utc`` is the time range the answer is about.

    The server applies HTTP faults overlapping the window; ``count_keys`` names the
    fields a "negative" malformed body negates.
    """

    payload: Any
    window_utc: tuple[datetime, datetime]
    status: int = 200
    content_type: str = "application/json"
    render: Callable[[Any], bytes] = _render_json
    count_keys: frozenset[str] = field(default_factory=lambda: frozenset({"in", "out"}))
    headers: Mapping[str, str] = field(default_factory=dict)


DeviceHandler = Callable[[DeviceRequest], DeviceResponse]


@dataclass(frozen=True)
class Route:
    template: str
    pattern: re.Pattern[str]
    handlers: dict[str, DeviceHandler]


# Vendor path template -> route; "{name}" matches one path segment (e.g. channels/{n}).
ROUTES: dict[str, Route] = {}


def register_route(method: str, template: str, handler: DeviceHandler) -> None:
    """Add a vendor endpoint, e.g. ``register_route("GET", "/local/tvpc/.api", axis_tvpc)``."""
    if not template.startswith("/"):
        raise ValueError("vendor path templates start with '/'")
    route = ROUTES.get(template)
    if route is None:
        regex = "".join(
            f"(?P<{part[1:-1]}>[^/]+)" if part.startswith("{") and part.endswith("}") else re.escape(part)
            for part in re.split(r"(\{[A-Za-z_][A-Za-z0-9_]*\})", template)
        )
        route = Route(template, re.compile(regex), {})
        ROUTES[template] = route
    route.handlers[method.upper()] = handler


def _match_route(method: str, path: str) -> tuple[DeviceHandler, dict[str, str]]:
    route = ROUTES.get(path)
    params: dict[str, str] = {}
    if route is None:
        for candidate in ROUTES.values():
            found = candidate.pattern.fullmatch(path)
            if found:
                route, params = candidate, found.groupdict()
                break
    if route is None:
        raise HttpError(HTTPStatus.NOT_FOUND, f"no simulated endpoint at {path!r}")
    handler = route.handlers.get(method)
    if handler is None:
        raise HttpError(HTTPStatus.METHOD_NOT_ALLOWED, f"{method} not allowed on {route.template}")
    return handler, params


# --- Axis People Counter (tvpc) ---------------------------------------------------------

AXIS_RESOLUTIONS: dict[str, int] = {"1m": 1, "5m": 5, "15m": 15, "1h": 60, "24h": 1440}


def _axis_time(epoch_local: float) -> str:
    """Axis timestamps: device-local wall time "YYYYMMDDhhmmss", no offset."""
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(epoch_local))


def _local_stamp(t_utc: datetime, profile: DeviceProfile) -> str:
    return t_utc.astimezone(profile.tz).strftime("%Y%m%d%H%M%S")


def _device_now(req: DeviceRequest) -> datetime:
    """The device's own clock: true now, moved by any clock_shift fault covering now."""
    hours = sum(
        f.number("hours")
        for f in req.faults
        if f.kind == "clock_shift" and f.overlaps(req.now_utc, req.now_utc + timedelta(microseconds=1))
    )
    return req.now_utc + timedelta(hours=hours)


def _parse_axis_date(text: str) -> date:
    if not re.fullmatch(r"\d{8}", text):
        raise bad_request(f"bad date {text!r}: expected YYYYMMDD")
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError as exc:
        raise bad_request(f"bad date {text!r}: {exc}") from exc


def _axis_export(req: DeviceRequest) -> DeviceResponse:
    raw_date = req.arg("date")
    if not raw_date:
        raise bad_request("export-json needs date=YYYYMMDD[-YYYYMMDD]")
    first_text, _, last_text = raw_date.partition("-")
    first = _parse_axis_date(first_text)
    last = _parse_axis_date(last_text) if last_text else first
    if last < first:
        raise bad_request("date range ends before it starts")
    if (last - first).days >= MAX_EXPORT_DAYS:
        raise bad_request(f"date range longer than {MAX_EXPORT_DAYS} days")
    res_text = req.arg("res", "15m") or "15m"
    resolution = AXIS_RESOLUTIONS.get(res_text)
    if resolution is None:
        raise bad_request(f"bad res {res_text!r}: expected one of {sorted(AXIS_RESOLUTIONS)}")
    tz = req.profile.tz
    start, _ = local_day_bounds(tz, first)
    _, end = local_day_bounds(tz, last)
    arrays = counts_with_faults(req.profile, start, end, resolution, req.seed, req.faults, req.now_utc)
    local = (arrays.start_epoch + 60 * arrays.offsets).tolist()
    data = [
        {"timestamp": _axis_time(t), "in": e, "out": x}
        for t, e, x in zip(local, arrays.entries.tolist(), arrays.exits.tolist(), strict=True)
    ]
    payload = {
        "serial": req.ref,
        "name": req.profile.display_name,
        "timestamp": _local_stamp(_device_now(req), req.profile),
        "res": res_text,
        "data": data,
    }
    return DeviceResponse(payload, (start, end))


def _axis_live_sum(req: DeviceRequest) -> DeviceResponse:
    tz = req.profile.tz
    today = req.now_utc.astimezone(tz).date()
    start, end = local_day_bounds(tz, today)
    arrays = counts_with_faults(req.profile, start, end, 1, req.seed, req.faults, req.now_utc)
    payload = {
        "serial": req.ref,
        "name": req.profile.display_name,
        "timestamp": _local_stamp(_device_now(req), req.profile),
        "in": int(arrays.entries.sum()),
        "out": int(arrays.exits.sum()),
    }
    return DeviceResponse(payload, (req.now_utc, req.now_utc + timedelta(seconds=1)))


def _axis_xml(payload: Any) -> bytes:
    """The export-xml form of an export: ``<tvpc serial name><data><item timestamp in out/>...``."""
    if not isinstance(payload, dict) or "data" not in payload:  # a "wrong_shape" fault's body
        return _render_json(payload)
    root = ElementTree.Element("tvpc", serial=str(payload["serial"]), name=str(payload["name"]))
    data = ElementTree.SubElement(root, "data")
    for row in payload["data"]:
        ElementTree.SubElement(
            data, "item", {"timestamp": row["timestamp"], "in": str(row["in"]), "out": str(row["out"])}
        )
    return ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)


def axis_tvpc(req: DeviceRequest) -> DeviceResponse:
    """Axis People Counter API: ``?export-json`` or ``?export-xml`` (``&date=...&res=...``) and ``?live-sum.json``."""
    if "export-json" in req.query:
        return _axis_export(req)
    if "export-xml" in req.query:
        resp = _axis_export(req)
        resp.render, resp.content_type = _axis_xml, "application/xml"
        return resp
    if "live-sum.json" in req.query:
        return _axis_live_sum(req)
    raise bad_request("unsupported tvpc request: expected export-json or live-sum.json")


register_route("GET", "/local/tvpc/.api", axis_tvpc)


# --- devices that require credentials ---------------------------------------------------
# Fixed credentials every simulated device accepts; a test sets them in an Airflow connection.

SIM_LOGIN = "sim-user"
SIM_PASSWORD = "sim-pass"
SIM_API_KEY = "sim-key"
SIM_BEARER = "sim-bearer-token"
SIM_CLIENT_ID = "sim-client"
SIM_CLIENT_SECRET = "sim-secret"
SIM_TOKEN_SECONDS = 3600
DIGEST_REALM = "AXIS_SIM"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def _unauthorized(req: DeviceRequest, message: str, challenge: str) -> DeviceResponse:
    return DeviceResponse(
        {"error": message},
        (req.now_utc, req.now_utc + timedelta(seconds=1)),
        401,
        headers={"WWW-Authenticate": challenge},
    )


def _digest_fields(header: str) -> dict[str, str]:
    return {k: v1 or v2 for k, v1, v2 in re.findall(r'(\w+)=(?:"([^"]*)"|([^\s,]*))', header)}


def _digest_ok(req: DeviceRequest, header: str) -> bool:
    """RFC 7616 qop=auth with MD5, as Axis firmware does it."""
    if not header.startswith("Digest ") or req.state is None:
        return False
    got = _digest_fields(header[len("Digest ") :])
    if (
        got.get("username") != SIM_LOGIN
        or got.get("realm") != DIGEST_REALM
        or not req.state.nonce_ok(got.get("nonce", ""))
    ):
        return False
    ha1 = _md5(f"{SIM_LOGIN}:{DIGEST_REALM}:{SIM_PASSWORD}")
    ha2 = _md5(f"{req.method}:{got.get('uri', '')}")
    expected = _md5(f"{ha1}:{got['nonce']}:{got.get('nc', '')}:{got.get('cnonce', '')}:{got.get('qop', '')}:{ha2}")
    return secrets.compare_digest(expected, got.get("response", ""))


def _bearer_ok(req: DeviceRequest) -> bool:
    header = req.headers.get("Authorization") or ""
    token = header[len("Bearer ") :] if header.startswith("Bearer ") else ""
    return bool(token) and (token == SIM_BEARER or (req.state is not None and req.state.token_ok(token)))


def _auth_problem(req: DeviceRequest, scheme: str) -> DeviceResponse | None:
    """None when the request carries the right credentials for `scheme`, else the device's 401."""
    header = req.headers.get("Authorization") or ""
    if scheme == "basic":
        wanted = "Basic " + base64.b64encode(f"{SIM_LOGIN}:{SIM_PASSWORD}".encode()).decode()
        ok = secrets.compare_digest(header, wanted)
        return None if ok else _unauthorized(req, "bad or missing basic credentials", f'Basic realm="{DIGEST_REALM}"')
    if scheme == "digest":
        if _digest_ok(req, header):
            return None
        nonce = req.state.new_nonce() if req.state else "0"
        challenge = f'Digest realm="{DIGEST_REALM}", nonce="{nonce}", qop="auth", algorithm=MD5'
        return _unauthorized(req, "digest authentication required", challenge)
    if scheme == "bearer":
        return (
            None if _bearer_ok(req) else _unauthorized(req, "invalid or expired token", 'Bearer error="invalid_token"')
        )
    if scheme == "apikey":
        key = req.headers.get("X-API-Key") or req.arg("api_key") or ""
        return None if secrets.compare_digest(key, SIM_API_KEY) else _unauthorized(req, "bad API key", "ApiKey")
    raise HttpError(HTTPStatus.NOT_FOUND, f"no auth scheme {scheme!r} (basic, digest, bearer, apikey)")


def axis_tvpc_protected(req: DeviceRequest) -> DeviceResponse:
    """The Axis API behind real authentication: ``/auth/{scheme}/local/tvpc/.api`` (digest is Axis' default)."""
    return _auth_problem(req, req.path_params["scheme"]) or axis_tvpc(req)


register_route("GET", "/auth/{scheme}/local/tvpc/.api", axis_tvpc_protected)


def oauth_token(req: DeviceRequest) -> DeviceResponse:
    """OAuth2 client credentials: client id/secret in HTTP Basic or in the form body."""
    if req.state is None:
        raise HttpError(HTTPStatus.INTERNAL_SERVER_ERROR, "no simulator state")
    form = {k: v[-1] for k, v in parse_qs(req.body.decode("utf-8", "replace")).items()}
    client_id, client_secret = form.get("client_id"), form.get("client_secret")
    header = req.headers.get("Authorization") or ""
    if header.startswith("Basic "):
        try:
            client_id, _, client_secret = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise bad_request("bad Basic header") from None
    window = (req.now_utc, req.now_utc + timedelta(seconds=1))
    if form.get("grant_type") != "client_credentials":
        return DeviceResponse({"error": "unsupported_grant_type"}, window, 400)
    if client_id != SIM_CLIENT_ID or client_secret != SIM_CLIENT_SECRET:
        return DeviceResponse({"error": "invalid_client"}, window, 401)
    token = req.state.issue_token(SIM_TOKEN_SECONDS)
    return DeviceResponse({"access_token": token, "token_type": "bearer", "expires_in": SIM_TOKEN_SECONDS}, window)


register_route("POST", "/oauth/token", oauth_token)

VEA_GROUPINGS = {"hour": ("recordDate_hour_1", 60), "minute_15": ("recordDate_minute_15", 15)}


def _vea_traffic(req: DeviceRequest, *, wrapped: bool) -> DeviceResponse:
    """SenSource Vea ``/api/data/traffic``: the account (device ref) has two zones, ``{ref}-z1`` and ``{ref}-z2``."""
    if not _bearer_ok(req):
        return _unauthorized(req, "invalid or expired token", 'Bearer error="invalid_token"')
    try:
        start = datetime.fromisoformat((req.arg("startDate") or "").replace("Z", "+00:00"))
        end = datetime.fromisoformat((req.arg("endDate") or "").replace("Z", "+00:00"))
    except ValueError:
        raise bad_request("startDate and endDate must be ISO 8601 instants") from None
    if start.tzinfo is None or end.tzinfo is None or end <= start:
        raise bad_request("startDate and endDate must carry an offset, end after start")
    grouping = req.arg("dateGroupings", "hour") or "hour"
    if grouping not in VEA_GROUPINGS:
        raise bad_request(f"dateGroupings {grouping!r} is not one of {sorted(VEA_GROUPINGS)}")
    key, minutes = VEA_GROUPINGS[grouping]
    step = minutes * 60
    first = datetime.fromtimestamp(int(start.timestamp()) // step * step, UTC)
    results = []
    for n in (1, 2):
        zone = f"{req.ref}-z{n}"
        profile = req.state.profile(zone) if req.state else DeviceProfile(zone)
        arrays = counts_with_faults(profile, first, end, minutes, req.seed, req.faults, req.now_utc)
        for t, e, x in zip(arrays.start_epoch.tolist(), arrays.entries.tolist(), arrays.exits.tolist(), strict=True):
            stamp = datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
            ins, outs = (e, x) if wrapped else (str(e), str(x))  # the bare variant writes counts as strings
            results.append({key: stamp, "name": f"Zone {n}", "zoneId": zone, "sumins": ins, "sumouts": outs})
    return DeviceResponse({"results": results} if wrapped else results, (first, end), count_keys=frozenset())


register_route("GET", "/api/data/traffic", lambda req: _vea_traffic(req, wrapped=True))
register_route("GET", "/bare/api/data/traffic", lambda req: _vea_traffic(req, wrapped=False))

DENSITY_INTERVALS = {"1m": 1, "5m": 5, "15m": 15, "1h": 60}


def density_counts(req: DeviceRequest) -> DeviceResponse:
    """Density ``/v2/spaces/{space}/counts``: ``page``/``page_size`` pages, each naming the ``next`` one.

    ``max`` is the occupancy (entries minus exits since local midnight) at the end of the interval.
    """
    space = req.path_params["space"]
    try:
        start = datetime.fromisoformat((req.arg("start_time") or "").replace("Z", "+00:00"))
        end = datetime.fromisoformat((req.arg("end_time") or "").replace("Z", "+00:00"))
        page, size = int(req.arg("page", "1") or 1), int(req.arg("page_size", "100") or 100)
    except ValueError:
        raise bad_request("start_time/end_time must be ISO 8601, page and page_size numbers") from None
    minutes = DENSITY_INTERVALS.get(req.arg("interval", "5m") or "5m")
    if minutes is None or start.tzinfo is None or end <= start or page < 1 or not 1 <= size <= 1000:
        raise bad_request(f"bad query: interval one of {sorted(DENSITY_INTERVALS)}, end after start, page >= 1")
    profile = req.state.profile(space) if req.state else DeviceProfile(space)
    day_start, _ = local_day_bounds(profile.tz, start.astimezone(profile.tz).date())
    arrays = counts_with_faults(profile, day_start, end, minutes, req.seed, req.faults, req.now_utc)
    occupancy = 0
    results = []
    for t, e, x in zip(arrays.start_epoch.tolist(), arrays.entries.tolist(), arrays.exits.tolist(), strict=True):
        occupancy = max(0, occupancy + e - x)
        begin = datetime.fromtimestamp(t, UTC)
        if begin >= start.astimezone(UTC):
            stamp, stop = begin.isoformat(), (begin + timedelta(minutes=minutes)).isoformat()
            analytics = {"max": occupancy, "min": 0, "entrances": e, "exits": x}
            results.append({"timestamp": stamp, "interval": {"start": stamp, "end": stop, "analytics": analytics}})
    chunk = results[(page - 1) * size : page * size]
    following = None
    if page * size < len(results):
        query = {k: v[-1] for k, v in req.query.items()} | {"page": str(page + 1)}
        following = f"/devices/{req.ref}/v2/spaces/{space}/counts?{urlencode(query)}"
    payload = {"results": chunk, "next": following, "previous": None}
    return DeviceResponse(payload, (start, end), count_keys=frozenset({"entrances", "exits"}))


register_route("GET", "/v2/spaces/{space}/counts", density_counts)


# --- faults on the wire -----------------------------------------------------------------

_HTML_ERROR = (
    b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
    b"<body><h1>Bad Gateway</h1><p>The device did not answer in time.</p></body></html>\n"
)


def _negate(value: Any, keys: frozenset[str]) -> Any:
    if isinstance(value, dict):
        return {
            k: (-abs(v) - 1 if k in keys and isinstance(v, int) and not isinstance(v, bool) else _negate(v, keys))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_negate(v, keys) for v in value]
    return value


def _raise_counts(value: Any, keys: frozenset[str], extra: int) -> Any:
    """The payload with ``extra`` added to every count under ``keys`` (entries and exits alike)."""
    if isinstance(value, dict):
        return {
            k: (
                v + extra
                if k in keys and isinstance(v, int) and not isinstance(v, bool)
                else _raise_counts(v, keys, extra)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_raise_counts(v, keys, extra) for v in value]
    return value


def _malformed_body(kind: str, resp: DeviceResponse) -> tuple[bytes, str]:
    """A 200 body that a careful parser must refuse."""
    if kind == "html":
        return _HTML_ERROR, "text/html; charset=utf-8"
    if kind == "truncated":
        body = resp.render(resp.payload)
        return body[: max(1, len(body) // 2)], resp.content_type
    if kind == "wrong_shape":
        return resp.render({"status": "ok", "result": [resp.payload]}), resp.content_type
    return resp.render(_negate(resp.payload, resp.count_keys)), resp.content_type


# --- server -----------------------------------------------------------------------------


class SimulatorState:
    """Shared, thread-safe state of one simulator: profiles, seed, clock and active faults."""

    def __init__(
        self,
        profiles: Mapping[str, DeviceProfile] | None,
        seed: int,
        faults: list[Fault] | None,
        clock: Clock | None,
        verbose: bool,
    ) -> None:
        self._lock = threading.Lock()
        self._profiles: dict[str, DeviceProfile] = {}
        for ref, profile in (profiles or {}).items():
            if profile.ref != ref:
                raise ValueError(f"profile for {ref!r} has ref {profile.ref!r}")
            self._profiles[ref] = profile
        self._faults: list[Fault] = list(faults or [])
        self._pulls: dict[tuple[int, str], int] = {}
        self.seed = int(seed)
        self.clock: Clock = clock or _utc_now
        self.verbose = verbose
        self.stopping = threading.Event()
        self._tokens: dict[str, datetime] = {}  # OAuth access token -> expiry (simulator clock)
        self._nonces: set[str] = set()  # digest nonces handed out
        self.token_requests = 0  # how many times a client asked for a token (tests check caching)

    def now(self) -> datetime:
        now = self.clock()
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("the simulator clock must return timezone-aware datetimes")
        return now.astimezone(UTC)

    def profile(self, ref: str) -> DeviceProfile:
        """The configured profile, or a default one derived from the ref (deterministic)."""
        with self._lock:
            found = self._profiles.get(ref)
        return found if found is not None else DeviceProfile(ref)

    def set_profile(self, profile: DeviceProfile) -> None:
        with self._lock:
            self._profiles[profile.ref] = profile

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def pull_number(self, fault: Fault, ref: str) -> int:
        """How many earlier requests of ``ref`` this fault matched (0 the first time), and count this one."""
        with self._lock:
            key = (id(fault), ref)
            number = self._pulls.get(key, 0)
            self._pulls[key] = number + 1
            return number

    def clear_faults(self) -> int:
        with self._lock:
            count = len(self._faults)
            self._faults.clear()
        return count

    def faults(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def issue_token(self, seconds: int) -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            self.token_requests += 1
            self._tokens[token] = self.now() + timedelta(seconds=seconds)
        return token

    def token_ok(self, token: str) -> bool:
        with self._lock:
            expiry = self._tokens.get(token)
        return expiry is not None and self.now() < expiry

    def revoke_tokens(self) -> None:
        """Forget every issued token: the next call with a cached one answers 401 (tests the refresh)."""
        with self._lock:
            self._tokens.clear()

    def new_nonce(self) -> str:
        nonce = secrets.token_hex(16)
        with self._lock:
            self._nonces.add(nonce)
        return nonce

    def nonce_ok(self, nonce: str) -> bool:
        with self._lock:
            return nonce in self._nonces


class _Handler(BaseHTTPRequestHandler):
    server: _SimServer
    server_version = "footfall-sim/0.1"
    sys_version = ""
    protocol_version = "HTTP/1.0"
    timeout = 10  # seconds a client may take to send its request

    def version_string(self) -> str:
        return self.server_version

    # Quiet by default: the stdlib logs every request to stderr.
    def log_message(self, format: str, *args: Any) -> None:
        if self.server.state.verbose:
            logger.info("%s - %s", self.address_string(), format % args)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Stdlib errors (bad request line, unknown method) as JSON instead of HTML."""
        self.close_connection = True
        if self.request_version == "HTTP/0.9":
            self.request_version = "HTTP/1.0"  # garbage request line: still answer with a status line
        with contextlib.suppress(OSError):
            self._send(code, _render_json({"error": message or HTTPStatus(code).phrase}), "application/json")

    def _send(self, status: int, body: bytes, content_type: str, headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, status: int, payload: Any) -> None:
        self._send(status, _render_json(payload), "application/json")

    def _read_body(self, limit: int) -> bytes:
        if self.headers.get("Transfer-Encoding"):
            raise HttpError(HTTPStatus.LENGTH_REQUIRED, "chunked bodies are not supported; send Content-Length")
        raw = self.headers.get("Content-Length")
        if raw is None:
            return b""
        try:
            length = int(raw)
        except ValueError:
            raise bad_request("bad Content-Length") from None
        if length < 0:
            raise bad_request("bad Content-Length")
        if length > limit:
            self.close_connection = True
            raise HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body larger than {limit} bytes")
        body = self.rfile.read(length)
        if len(body) != length:
            raise bad_request("body shorter than Content-Length")
        return body

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        try:
            try:
                split = urlsplit(self.path)
                query = parse_qs(split.query, keep_blank_values=True, max_num_fields=100)
            except ValueError as exc:
                raise bad_request(f"bad request target: {exc}") from None
            segments = [unquote(s) for s in split.path.split("/")]
            path = "/".join(segments)
            if path == "/healthz":
                if self.command != "GET":
                    raise HttpError(HTTPStatus.METHOD_NOT_ALLOWED, "healthz answers GET")
                self._send_json(200, {"status": "ok"})
            elif path == "/_sim/faults":
                self._control()
            elif len(segments) >= 3 and segments[1] == "devices":
                self._device(segments[2], "/" + "/".join(segments[3:]), query)
            else:
                raise HttpError(HTTPStatus.NOT_FOUND, f"nothing at {split.path!r}")
        except HttpError as exc:
            self._send_json(exc.status, {"error": exc.message})
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True  # the client went away
        except Exception:
            logger.exception("simulator failed on %s %r", self.command, self.path)
            with contextlib.suppress(OSError):
                self._send_json(500, {"error": "internal simulator error"})

    def _control(self) -> None:
        state = self.server.state
        if self.command == "GET":
            self._send_json(200, {"faults": [f.to_dict() for f in state.faults()]})
        elif self.command == "DELETE":
            self._send_json(200, {"cleared": state.clear_faults()})
        elif self.command == "POST":
            body = self._read_body(MAX_CONTROL_BODY)
            try:
                fault = Fault.from_dict(json.loads(body.decode("utf-8")))
            except (ValueError, TypeError, UnicodeDecodeError, RecursionError) as exc:
                raise bad_request(f"bad fault: {exc}") from None
            state.add_fault(fault)
            self._send_json(201, fault.to_dict())
        else:
            raise HttpError(HTTPStatus.METHOD_NOT_ALLOWED, "faults answer GET, POST and DELETE")

    def _device(self, ref: str, vendor_path: str, query: dict[str, list[str]]) -> None:
        state = self.server.state
        if not _REF_RE.fullmatch(ref):
            raise bad_request(f"bad device ref {ref[:40]!r}")
        handler, params = _match_route(self.command, vendor_path)
        body = self._read_body(MAX_DEVICE_BODY)
        profile = state.profile(ref)
        faults = tuple(f for f in state.faults() if f.applies_to(ref))
        req = DeviceRequest(
            ref=ref,
            profile=profile,
            method=self.command,
            path=vendor_path,
            path_params=params,
            query=query,
            headers=self.headers,
            body=body,
            now_utc=state.now(),
            seed=state.seed,
            faults=faults,
            state=state,
        )
        resp = handler(req)
        on_wire = http_faults_for(faults, ref, *resp.window_utc)
        for fault in on_wire:
            if fault.kind == "timeout" and state.stopping.wait(fault.number("seconds")):
                self.close_connection = True
                return  # shutting down: drop the connection unanswered
        for fault in on_wire:
            if fault.kind == "http_500":
                self._send(500, b"simulated device error\n", "text/plain; charset=utf-8")
                return
        for fault in on_wire:
            if fault.kind == "malformed":
                body_out, content_type = _malformed_body(str(fault.params["body"]), resp)
                self._send(200, body_out, content_type)
                return
        payload = resp.payload
        for fault in on_wire:
            if fault.kind == "changing":
                extra = round(fault.number("step")) * state.pull_number(fault, ref)
                payload = _raise_counts(payload, resp.count_keys, extra)
        body_out = resp.render(payload)
        for fault in on_wire:
            if fault.kind == "cut":
                self._send_cut(resp, body_out, fault.number("fraction"))
                return
        for fault in on_wire:
            if fault.kind == "slow_drip":
                self._send_drip(resp, body_out, fault.number("seconds"), int(fault.params["chunk_bytes"]))
                return
        self._send(resp.status, body_out, resp.content_type, resp.headers)

    def _send_head(self, resp: DeviceResponse, length: int) -> None:
        self.send_response(resp.status)
        for name, value in resp.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(length))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()

    def _send_cut(self, resp: DeviceResponse, body: bytes, fraction: float) -> None:
        """Promise the whole body, send part of it, close: the client sees a short read."""
        self._send_head(resp, len(body))
        self.wfile.write(body[: int(len(body) * fraction)])
        self.wfile.flush()
        self.close_connection = True

    def _send_drip(self, resp: DeviceResponse, body: bytes, seconds: float, chunk: int) -> None:
        """The body a few bytes at a time; stops (connection closed) when the simulator stops."""
        self._send_head(resp, len(body))
        self.wfile.flush()
        for at in range(0, len(body), chunk):
            if at and self.server.state.stopping.wait(seconds):
                self.close_connection = True
                return
            self.wfile.write(body[at : at + chunk])
            self.wfile.flush()


class _SimServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() must not wait for slow (timeout-fault) handlers
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], state: SimulatorState) -> None:
        self.state = state
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name (getfqdn), which can be slow; skip it.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("connection from %s failed", client_address, exc_info=True)

    @property
    def url(self) -> str:
        host = self.server_name
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.server_port}"


class SimulatorHandle:
    """A simulator running in a background thread; stop it with ``stop()`` or a ``with`` block."""

    def __init__(self, server: _SimServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        self._stopped = False

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def host(self) -> str:
        return self._server.server_name

    @property
    def port(self) -> int:
        return self._server.server_port

    @property
    def state(self) -> SimulatorState:
        return self._server.state

    def device_url(self, ref: str) -> str:
        return f"{self.url}/devices/{ref}"

    def add_fault(self, fault: Fault | str | Mapping[str, Any]) -> Fault:
        """Inject a fault (a Fault, CLI text, or the control API's JSON form)."""
        if isinstance(fault, str):
            fault = Fault.parse(fault)
        elif not isinstance(fault, Fault):
            fault = Fault.from_dict(fault)
        self._server.state.add_fault(fault)
        return fault

    def clear_faults(self) -> None:
        self._server.state.clear_faults()

    @property
    def faults(self) -> list[Fault]:
        return self._server.state.faults()

    def set_profile(self, profile: DeviceProfile) -> None:
        self._server.state.set_profile(profile)

    def revoke_tokens(self) -> None:
        self._server.state.revoke_tokens()

    def stop(self, timeout: float = 5.0) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._server.state.stopping.set()  # wakes handlers sleeping on a timeout fault
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout)

    def __enter__(self) -> SimulatorHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _make_server(
    host: str,
    port: int,
    profiles: Mapping[str, DeviceProfile] | None,
    seed: int,
    faults: list[Fault] | None,
    clock: Clock | None,
    verbose: bool,
) -> _SimServer:
    state = SimulatorState(profiles, seed, faults, clock, verbose)
    return _SimServer((host, port), state)


def serve(
    host: str,
    port: int,
    profiles: dict[str, DeviceProfile] | None = None,
    seed: int = 0,
    faults: list[Fault] | None = None,
    *,
    clock: Clock | None = None,
    verbose: bool = False,
) -> None:
    """Run the simulator in the foreground until interrupted."""
    server = _make_server(host, port, profiles, seed, faults, clock, verbose)
    logger.info("footfall simulator listening on %s (seed %s)", server.url, seed)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        logger.info("footfall simulator stopping")
    finally:
        server.state.stopping.set()
        server.server_close()


def start_in_thread(
    host: str = "127.0.0.1",
    port: int = 0,
    profiles: dict[str, DeviceProfile] | None = None,
    seed: int = 0,
    faults: list[Fault] | None = None,
    *,
    clock: Clock | None = None,
    verbose: bool = False,
) -> SimulatorHandle:
    """Start the simulator on a daemon thread (port 0 picks a free port) and return its handle."""
    server = _make_server(host, port, profiles, seed, faults, clock, verbose)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="footfall-simulator", daemon=True
    )
    thread.start()
    logger.debug("footfall simulator listening on %s", server.url)
    return SimulatorHandle(server, thread)

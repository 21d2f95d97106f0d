"""The connector's TOML file: where to read, where to send, how often (see the README, line by line)."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

TOKEN_ENV = "FOOTFALL_CONNECTOR_TOKEN"


class ConfigError(ValueError):
    """The config file cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Query:
    """One incremental query: `:cursor` is bound to the last cursor value sent."""

    name: str
    sql: str
    cursor_column: str = "cursor"
    initial_cursor: Any = 0


@dataclass(frozen=True)
class Config:
    server_url: str
    site_id: str
    token: str
    database_url: str
    queries: tuple[Query, ...]
    timezone: str = "UTC"
    poll_interval_seconds: float = 300.0
    state_dir: Path = Path("state")
    ca_bundle: str | None = None
    proxy: str | None = None
    batch_size: int = 1000
    max_batches_per_poll: int = 20
    outbox_max_bytes: int | None = None  # stop reading the source while this many bytes wait to be sent
    timeout_seconds: float = 30.0
    retry_base_seconds: float = 2.0
    retry_max_seconds: float = 300.0
    log_file: Path | None = None
    log_max_bytes: int = 5 * 1024 * 1024
    log_backups: int = 5

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def outbox_path(self) -> Path:
        return self.state_dir / "outbox.sqlite3"


def _path(base: Path, value: str | None) -> Path | None:
    if value is None:
        return None
    path = Path(os.path.expandvars(value)).expanduser()
    return path if path.is_absolute() else base / path


def _expand(value: str, where: str) -> str:
    """${NAME} from the environment, so a password need not be written in the file."""
    expanded = os.path.expandvars(value)
    if "${" in expanded:
        raise ConfigError(f"{where}: database_url names an environment variable that is not set")
    return expanded


def _token(doc: dict[str, Any], base: Path, where: str) -> str:
    if doc.get("token_file"):
        path = _path(base, doc["token_file"])
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{where}: token_file {path}: {exc.strerror}") from None
    if doc.get("token"):
        return str(doc["token"])
    if os.environ.get(TOKEN_ENV):
        return os.environ[TOKEN_ENV]
    raise ConfigError(f"{where}: set token_file (preferred), token, or the {TOKEN_ENV} environment variable")


def load_config(path: Path) -> Config:
    """Read and check the file; relative paths are relative to the file's folder."""
    where = str(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML ({exc})") from None
    base = path.resolve().parent
    missing = [key for key in ("server_url", "site_id", "database_url") if not doc.get(key)]
    if missing:
        raise ConfigError(f"{where}: missing {', '.join(missing)}")
    if not str(doc["server_url"]).startswith("https://"):
        raise ConfigError(f"{where}: server_url must be https:// (counts and the token travel over it)")
    queries = []
    for i, q in enumerate(doc.get("queries", [])):
        if not q.get("name") or not q.get("sql"):
            raise ConfigError(f"{where}: queries[{i}] needs name and sql")
        if ":cursor" not in q["sql"]:
            raise ConfigError(f"{where}: queries[{i}] ({q['name']}): sql must bind :cursor, e.g. WHERE id > :cursor")
        queries.append(Query(q["name"], q["sql"], q.get("cursor_column", "cursor"), q.get("initial_cursor", 0)))
    if not queries:
        raise ConfigError(f"{where}: at least one [[queries]] table is needed")
    zone = doc.get("timezone", "UTC")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{where}: timezone {zone!r} is not an IANA zone such as Europe/Paris") from None
    known = {f for f in Config.__dataclass_fields__} | {"token_file"}
    unknown = sorted(set(doc) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
    simple = {
        k: doc[k]
        for k in (
            "poll_interval_seconds", "ca_bundle", "proxy", "batch_size", "max_batches_per_poll", "timeout_seconds",
            "retry_base_seconds", "outbox_max_bytes", "retry_max_seconds", "log_max_bytes", "log_backups",
        )
        if k in doc
    }  # fmt: skip
    if "outbox_max_bytes" in simple and (
        isinstance(simple["outbox_max_bytes"], bool)
        or not isinstance(simple["outbox_max_bytes"], int)
        or simple["outbox_max_bytes"] < 1
    ):
        raise ConfigError(f"{where}: outbox_max_bytes must be a whole number of bytes above 0")
    if "ca_bundle" in simple:
        simple["ca_bundle"] = str(_path(base, simple["ca_bundle"]))
    return Config(
        server_url=str(doc["server_url"]).rstrip("/"),
        site_id=str(doc["site_id"]),
        token=_token(doc, base, where),
        database_url=_expand(str(doc["database_url"]), where),
        queries=tuple(queries),
        timezone=zone,
        state_dir=_path(base, doc.get("state_dir", "state")),
        log_file=_path(base, doc.get("log_file")),
        **simple,
    )

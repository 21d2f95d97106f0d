"""`footfall-connector check | once | run --config FILE`."""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from footfall_connector import __version__
from footfall_connector.config import Config, ConfigError, load_config
from footfall_connector.outbox import Outbox
from footfall_connector.runner import cycle, run_forever
from footfall_connector.sender import backoff_delay, check_server, make_session
from footfall_connector.source import bind_cursor, column_problem, source_engine

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DEFAULT_CONFIG = Path("footfall-connector.toml")


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def setup_logging(config: Config, verbose: bool) -> None:
    """Rotating log file when configured (a workstation must not fill its disk), else stderr."""
    handler: logging.Handler
    if config.log_file:
        config.log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            config.log_file, maxBytes=config.log_max_bytes, backupCount=config.log_backups, encoding="utf-8"
        )
    else:
        handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)


def cmd_check(config: Config) -> int:
    """One line per check; exit 1 when any fails."""
    results: list[tuple[bool, str]] = []
    engine = source_engine(config.database_url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        results.append((True, f"database {engine.url.render_as_string(hide_password=True)}: reachable"))
        outbox = Outbox(config.outbox_path)
        for query in config.queries:
            try:
                with engine.connect() as conn:
                    cursor = bind_cursor(outbox.cursor(query.name, query.initial_cursor))
                    result = conn.execute(text(query.sql), {"cursor": cursor})
                    columns = list(result.keys())
                    result.close()
            except SQLAlchemyError as exc:
                results.append((False, f"query {query.name}: fails: {str(exc).splitlines()[0]}"))
                continue
            problem = column_problem(columns, query)
            if problem:
                results.append((False, problem))
            else:
                results.append((True, f"query {query.name}: runs, columns {', '.join(columns)}"))
        outbox.close()
    except SQLAlchemyError as exc:
        results.append((False, f"database: unreachable: {str(exc).splitlines()[0]}"))
    results.extend(check_server(make_session(config), config))
    for ok, line in results:
        _out(f"{'ok    ' if ok else 'FAILED'} {line}")
    return EXIT_OK if all(ok for ok, _ in results) else EXIT_FAILED


def cmd_once(config: Config, attempts: int) -> int:
    """One cycle, retrying the send a few times; exit 1 when batches wait or the server refused one."""
    engine, session, outbox = source_engine(config.database_url), make_session(config), Outbox(config.outbox_path)
    try:
        result = cycle(config, engine, session, outbox)
        rejected = result.rejected
        for attempt in range(1, attempts):
            if result.send_ok:
                break
            time.sleep(backoff_delay(attempt, config.retry_base_seconds, config.retry_max_seconds))
            result = cycle(config, engine, session, outbox)
            rejected += result.rejected
        _out(
            f"read {result.rows_read} row(s); sent {result.batches_sent} batch(es), {result.rows_sent} row(s); "
            f"{result.pending} batch(es) waiting; {rejected} refused by the server (see the log)"
            + (f"; reading paused: {result.read_paused}" if result.read_paused else "")
        )
        ok = result.send_ok and result.read_ok and not rejected and not result.read_paused
        return EXIT_OK if ok else EXIT_FAILED
    finally:
        outbox.close()


def cmd_run(config: Config, max_cycles: int | None) -> int:
    """Loop until SIGTERM/SIGINT (a service manager's stop)."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    engine, session, outbox = source_engine(config.database_url), make_session(config), Outbox(config.outbox_path)
    logging.getLogger(__name__).info(
        "footfall-connector %s: site %s -> %s every %ss", __version__, config.site_id, config.server_url,
        config.poll_interval_seconds,
    )  # fmt: skip
    try:
        run_forever(config, engine, session, outbox, stop, max_cycles)
    finally:
        outbox.close()
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="footfall-connector", description=__doc__)
    parser.add_argument("--version", action="version", version=__version__)
    parser.add_argument("-c", "--config", type=Path, default=DEFAULT_CONFIG, help="TOML config file")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="database, queries, server and token: one line each; exit 1 on any failure")
    p = sub.add_parser("once", help="read and send once (for a scheduled task)")
    p.add_argument("--attempts", type=int, default=3, help="send attempts, with backoff (default 3)")
    p = sub.add_parser("run", help="read and send every poll interval until stopped (for a service)")
    p.add_argument("--max-cycles", type=int, help="stop after this many cycles (for tests)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        sys.stderr.write(f"footfall-connector: {exc}\n")
        return EXIT_USAGE
    setup_logging(config, args.verbose)
    if args.command == "check":
        return cmd_check(config)
    if args.command == "once":
        return cmd_once(config, max(1, args.attempts))
    return cmd_run(config, args.max_cycles)

"""The one command line: `footfall ...`, shared by the Makefile, the demo, the DAGs' operators and the benchmarks.

The demo and local Airflow are `footfall-dev` (footfall_devtools); the simulator is `footfall-simulator`.

Each subcommand is a thin wrapper over a library function; heavy modules are imported inside the
command that needs them so `footfall --help` and `footfall sites check` stay quick.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from footfall.forecast.evaluate import SiteCalendar
    from footfall.normalize import PayloadCheck

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _instant(text: str) -> datetime:
    from footfall.timewindow import parse_instant

    try:
        return parse_instant(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 instant such as 2026-11-24T10:00Z") from None


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from footfall import settings
    from footfall.warehouse.engine import normalize_url, upgrade

    upgrade(args.url)
    print(f"warehouse at {normalize_url(args.url or settings.db_url())} is up to date")
    return EXIT_OK


def cmd_sites_check(args: argparse.Namespace) -> int:
    from footfall import settings
    from footfall.config import load_registry

    directory = args.dir or settings.sites_dir()
    sites, errors = load_registry(directory)
    for site_id in sorted(sites):
        print(f"ok     {site_id}")
    for err in errors:
        print(f"ERROR  {err}")
    print(f"{len(sites)} site file(s) valid, {len(errors)} with errors in {directory}")
    return EXIT_FAILED if errors else EXIT_OK


def cmd_sites_list(args: argparse.Namespace) -> int:
    from footfall.config import load_registry

    sites, _ = load_registry(args.dir)
    for site in sites.values():
        print(f"{site.id:<20} {site.timezone:<18} {site.source.kind.value:<10} {site.source.preset:<28} {site.name}")
    return EXIT_OK


def cmd_sites_pools(args: argparse.Namespace) -> int:
    """The Airflow pools the registry's cloud-API sites need, for `airflow pools import` at deploy time."""
    from footfall.config import load_registry
    from footfall.dag_factory import vendor_pools

    sites, _ = load_registry(args.dir)
    text = json.dumps(vendor_pools(sites.values(), args.slots), indent=2) + "\n"
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return EXIT_OK


def cmd_sync(args: argparse.Namespace) -> int:
    from footfall.config import get_site
    from footfall.errors import FootfallError
    from footfall.pipeline import sync_window
    from footfall.timewindow import Window

    site = get_site(args.site)
    end = args.to or datetime.now(UTC)
    window = Window(args.from_ or end - timedelta(minutes=5 + site.source.lookback_minutes), end)
    try:
        result = sync_window(site, window, run_id="cli")
    except FootfallError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_FAILED
    print(json.dumps(result.summary()))
    return EXIT_OK


def cmd_summary(args: argparse.Namespace) -> int:
    from footfall.report import format_table, site_summaries
    from footfall.warehouse.engine import get_engine

    end = datetime.now(UTC)
    print(format_table(site_summaries(get_engine(), end - timedelta(hours=args.hours), end)))
    return EXIT_OK


def cmd_api_serve(args: argparse.Namespace) -> int:
    """Serve the ingestion API (HTTPS when --certfile/--keyfile are given; else put a TLS proxy in front)."""
    from footfall.api.app import serve

    serve(args.host, args.port, certfile=args.certfile, keyfile=args.keyfile, workers=args.workers, only=args.only)
    return EXIT_OK


def cmd_partners(args: argparse.Namespace) -> int:
    """Create, list or revoke partner keys (read access to named sites); a new key is printed once, stored hashed."""
    from footfall.config import get_site
    from footfall.warehouse import share
    from footfall.warehouse.engine import get_engine

    engine = get_engine()
    if args.partners_command == "create":
        sites = [s.strip() for s in args.sites.split(",") if s.strip()]
        if not sites:
            print("footfall partners create: --sites names at least one site", file=sys.stderr)
            return EXIT_USAGE
        for site_id in sites:
            get_site(site_id)  # refuse keys for sites that do not exist
        partner_id, key = share.create_partner(engine, args.name, sites, args.rate)
        print(f"partner {partner_id} ({args.name}) may read {', '.join(sites)}; its key (shown once):")
        print(key)
        return EXIT_OK
    if args.partners_command == "list":
        for p in share.list_partners(engine):
            state = f"revoked {p.revoked_at:%Y-%m-%d %H:%M}" if p.revoked_at else "active"
            print(f"{p.partner_id:>6}  {p.name:<24} {state:<24} {p.rate_per_minute:>6}/min  {','.join(p.sites)}")
        return EXIT_OK
    count = share.revoke_partner(engine, args.id)
    print(f"revoked {count} partner key(s)")
    return EXIT_OK if count else EXIT_FAILED


def cmd_tokens(args: argparse.Namespace) -> int:
    """Create, list or revoke a site's push tokens; a new token is printed once and stored hashed."""
    from footfall.api import tokens
    from footfall.config import get_site
    from footfall.warehouse.engine import get_engine

    engine = get_engine()
    if args.tokens_command == "create":
        get_site(args.site)  # refuse tokens for a site that does not exist
        token_id, token = tokens.create_token(engine, args.site, args.label)
        print(f"token {token_id} for site {args.site} (shown once; store it in the connector's token file):")
        print(token)
        return EXIT_OK
    if args.tokens_command == "list":
        for info in tokens.list_tokens(engine, args.site):
            state = f"revoked {info.revoked_at:%Y-%m-%dT%H:%MZ}" if info.revoked_at else "active"
            created = f"{info.created_at:%Y-%m-%dT%H:%MZ}"
            print(f"{info.token_id:>6}  {info.hash_prefix}…  {created}  {state:<26} {info.label or ''}")
        return EXIT_OK
    if args.id is None and not args.all:
        print("footfall tokens revoke: give --id N or --all", file=sys.stderr)
        return EXIT_USAGE
    count = tokens.revoke_token(engine, args.site, args.id)
    print(f"revoked {count} token(s) of site {args.site}")
    return EXIT_OK if count or args.all else EXIT_FAILED


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Rolling-origin backtest of the forecast model and every baseline on a counts CSV (JSON on stdout)."""
    from footfall.forecast.evaluate import SiteCalendar, evaluate, site_frames
    from footfall.forecast.series import UnusableInput, parse_resolution

    try:
        minutes = parse_resolution(args.resolution)
        default = SiteCalendar(args.timezone or "UTC", args.country, args.region)
        frames = site_frames(args.counts, minutes, _site_calendars(), default, weather=args.weather)
        result = evaluate(frames, minutes, args.horizon)
    except UnusableInput as exc:
        print(f"footfall evaluate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(json.dumps(result, indent=2))
    return EXIT_OK


def _site_calendars() -> dict[str, SiteCalendar]:
    """Zone, country and region of each registry site, for counts whose site has a site file."""
    from footfall.config import load_registry
    from footfall.forecast.evaluate import SiteCalendar

    sites, _ = load_registry()
    return {s.id: SiteCalendar(s.timezone, s.country, getattr(s, "region", None)) for s in sites.values()}


def cmd_import(args: argparse.Namespace) -> int:
    from footfall.config import get_site
    from footfall.errors import FootfallError
    from footfall.imports.run import run_import
    from footfall.warehouse.engine import get_engine

    site = get_site(args.site)
    try:
        results = run_import(
            site,
            args.from_date,
            args.to_date,
            engine=get_engine(),
            file=args.file,
            chunk=args.chunk,
            show_progress=sys.stderr.isatty(),
            export_format=args.format,
        )
    except (FootfallError, ValueError) as exc:
        print(f"footfall import: {exc}", file=sys.stderr)
        return EXIT_FAILED
    done = sum(1 for r in results if r["status"] == "done")
    rows = sum(int(r.get("rows_loaded", 0)) for r in results)
    print(f"{site.id}: {len(results)} chunk(s), {done} loaded now, {len(results) - done} already done; {rows} rows")
    return EXIT_OK


def cmd_quality_check(args: argparse.Namespace) -> int:
    """Flags go to stdout as JSON lines; exit 0 even with flags, 2 with one line when the input is unusable."""
    from footfall.quality.cli import check_counts_file

    try:
        check_counts_file(args, sys.stdout)
    except ValueError as exc:  # CountsFileError, ConfigError and bad flags are all ValueErrors
        print(f"footfall quality check: {str(exc).splitlines()[0]}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def _option_value(text: str) -> tuple[str, object]:
    import yaml

    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return key.strip(), yaml.safe_load(value) if value else ""


def _check_file(args: argparse.Namespace, command: str) -> PayloadCheck | None:
    """One payload file through normalize and validation (as the pipeline would), or the reason it is refused."""
    from footfall.config import ConfigError, load_presets, load_site
    from footfall.errors import SiteDataError
    from footfall.normalize import check_payload

    if not getattr(args, "verbose", False):
        logging.disable(logging.INFO)  # the validation suite's set-up chatter is not the answer
    site = None
    if getattr(args, "site", None):
        try:
            site = load_site(Path(args.site))
        except ConfigError as exc:
            print(f"footfall {command}: {exc}", file=sys.stderr)
            return None
    preset = args.preset or (site.source.preset if site else None)
    if preset not in load_presets():
        print(f"footfall {command}: unknown preset {preset!r} (see `footfall presets list`)", file=sys.stderr)
        return None
    try:
        body = Path(args.file).read_bytes()
    except OSError as exc:
        print(f"footfall {command}: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return None
    try:
        return check_payload(
            preset, body, site=site, site_id=args.site_id, timezone=args.tz, options=dict(args.option or [])
        )
    except (SiteDataError, ValueError) as exc:
        print(f"footfall {command}: {args.file}: {exc}".replace("\n", " "), file=sys.stderr)
        return None


def cmd_parse(args: argparse.Namespace) -> int:
    """Normalize and validate one payload file with a preset; print it as a counts CSV (exit 2 when it
    would not load)."""
    from footfall.normalize import counts_csv

    checked = _check_file(args, "parse")
    if checked is None:
        return 2
    sys.stdout.write(counts_csv(checked.rows))
    if checked.rows_skipped:
        print(f"footfall parse: {checked.rows_skipped} row(s) without counts or repeated skipped", file=sys.stderr)
    return 0


def cmd_presets_test(args: argparse.Namespace) -> int:
    """What a preset reads from a vendor sample: readings, skipped rows, intervals, zone, resolution, totals."""
    checked = _check_file(args, "presets test")
    if checked is None:
        return 2
    print("\n".join(checked.report()))
    return 0


def cmd_presets_list(args: argparse.Namespace) -> int:
    from footfall.config import load_presets

    for name, preset in sorted(load_presets().items()):
        print(f"{name}\t{preset.kind.value}\t{preset.description}")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from footfall.config import get_site
    from footfall.errors import FootfallError
    from footfall.replay import replay
    from footfall.timewindow import Window

    if args.to <= args.from_:
        print("footfall replay: --to must be after --from", file=sys.stderr)
        return EXIT_USAGE
    try:
        results = replay(get_site(args.site), Window(args.from_, args.to))
    except FootfallError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_FAILED
    for result in results:
        print(json.dumps(result.summary()))
    print(f"replayed {len(results)} window(s) of site {args.site} from landed payloads", file=sys.stderr)
    return EXIT_OK


def cmd_quality_docs(args: argparse.Namespace) -> int:
    """Build the GX Data Docs site from the stored validation results of recent runs."""
    from footfall.quality.docs import build_docs
    from footfall.warehouse.engine import get_engine

    built = build_docs(get_engine(), args.out, site_id=args.site, per_site=args.runs)
    if args.site and not built.validations:
        print(f"footfall quality docs: no stored validation for site {args.site!r}", file=sys.stderr)
        return EXIT_FAILED
    sites = ", ".join(built.sites) or "no site yet"
    print(f"{built.index}: {built.validations} validation(s) of {sites}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="footfall", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p_db = sub.add_parser("db", help="warehouse schema").add_subparsers(dest="db_command", required=True)
    p = p_db.add_parser("upgrade", help="apply Alembic migrations (FOOTFALL_DB_URL, default SQLite)")
    p.add_argument("--url", help="database URL (default: FOOTFALL_DB_URL or the embedded SQLite file)")
    p.set_defaults(func=cmd_db_upgrade)

    p_sites = sub.add_parser("sites", help="the site registry").add_subparsers(dest="sites_command", required=True)
    p = p_sites.add_parser("check", help="validate every site file (exit 1 on any error)")
    p.add_argument("--dir", type=Path, help="registry folder")
    p.set_defaults(func=cmd_sites_check)
    p = p_sites.add_parser("list", help="list valid sites")
    p.add_argument("--dir", type=Path, help="registry folder")
    p.set_defaults(func=cmd_sites_list)
    p = p_sites.add_parser("pools", help="the Airflow pools of the registry's cloud-API vendors (airflow pools import)")
    p.add_argument("--dir", type=Path, help="registry folder")
    p.add_argument("--slots", type=int, help="slots per pool (default: FOOTFALL_VENDOR_POOL_SLOTS or 4)")
    p.add_argument("--output", type=Path, help="write the JSON here (default: standard output)")
    p.set_defaults(func=cmd_sites_pools)

    p = sub.add_parser("sync", help="extract, validate and load one window for one site, outside Airflow")
    p.add_argument("--site", required=True)
    p.add_argument("--from", dest="from_", type=_instant, help="window start (UTC if no offset)")
    p.add_argument("--to", type=_instant, help="window end (default now)")
    p.set_defaults(func=cmd_sync)

    p = sub.add_parser("summary", help="per-site totals of the last hours")
    p.add_argument("--hours", type=float, default=2.0)
    p.set_defaults(func=cmd_summary)

    p_api = sub.add_parser("api", help="the API (ingest + share)").add_subparsers(dest="api_command", required=True)
    p = p_api.add_parser("serve", help="serve the push API and the public read API (warehouse: FOOTFALL_DB_URL)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8443)
    p.add_argument("--certfile", help="TLS certificate (PEM); with --keyfile, serve HTTPS")
    p.add_argument("--keyfile", help="TLS private key (PEM)")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--only", choices=("ingest", "share"), help="serve one half: ingestion or sharing (default both)")
    p.set_defaults(func=cmd_api_serve)

    p_partners = sub.add_parser("partners", help="partner keys for the public read API")
    p_par = p_partners.add_subparsers(dest="partners_command", required=True)
    p = p_par.add_parser("create", help="create a key for some sites (printed once)")
    p.add_argument("--name", required=True, help="who the key is for, e.g. 'city portal'")
    p.add_argument("--sites", required=True, help="comma-separated site ids the key may read")
    p.add_argument("--rate", type=int, default=600, help="requests a minute (default 600)")
    p.set_defaults(func=cmd_partners)
    p = p_par.add_parser("list", help="list partners and their sites")
    p.set_defaults(func=cmd_partners)
    p = p_par.add_parser("revoke", help="revoke a partner's key")
    p.add_argument("--id", type=int, required=True, help="partner id (see `footfall partners list`)")
    p.set_defaults(func=cmd_partners)

    p_tok = sub.add_parser("tokens", help="per-site push tokens").add_subparsers(dest="tokens_command", required=True)
    for name, text in (("create", "create a token (printed once)"), ("list", "list tokens"), ("revoke", "revoke")):
        p = p_tok.add_parser(name, help=text)
        p.add_argument("--site", required=True)
        if name == "create":
            p.add_argument("--label", help="where the token is used, e.g. 'accueil workstation'")
        if name == "revoke":
            p.add_argument("--id", type=int, help="token id (see `footfall tokens list`)")
            p.add_argument("--all", action="store_true", help="revoke every active token of the site")
        p.set_defaults(func=cmd_tokens)

    p = sub.add_parser("evaluate", help="backtest the forecast model and baselines on a counts CSV (JSON)")
    p.add_argument("--counts", type=Path, required=True, help="counts CSV as written by `footfall parse`")
    p.add_argument("--resolution", default="30min", help="slot length, e.g. 15min, 30min, 1h (default 30min)")
    p.add_argument("--horizon", choices=("1d", "2h"), default="1d", help="1d: next day from midnight; 2h: every slot")
    p.add_argument("--timezone", help="IANA zone of sites without a site file (default UTC)")
    p.add_argument("--country", help="ISO country for public holidays of sites without a site file")
    p.add_argument("--region", help="holiday subdivision, e.g. CA")
    p.add_argument(
        "--weather", type=Path, help="optional hourly weather CSV: time (UTC),temperature_c,precipitation_mm"
    )
    p.set_defaults(func=cmd_evaluate)
    p = sub.add_parser("import", help="import history for one site from its API or an export file, in chunks")
    p.add_argument("--site", required=True)
    p.add_argument("--file", type=Path, help="counts CSV (.csv/.csv.gz) or XLSX export; without it, the site's API")
    p.add_argument("--from", dest="from_date", type=date.fromisoformat, help="first local date (YYYY-MM-DD)")
    p.add_argument("--to", dest="to_date", type=date.fromisoformat, help="last local date, inclusive")
    p.add_argument("--chunk", choices=["day", "week"], default="day")
    p.add_argument("--format", help="the --file is a public export read by this reader (footfall.imports.exports)")
    p.set_defaults(func=cmd_import)
    p_quality = sub.add_parser("quality", help="data quality checks").add_subparsers(
        dest="quality_command", required=True
    )
    p = p_quality.add_parser("check", help="run every discrepancy check on a counts CSV; one JSON line per flag")
    p.add_argument("--counts", required=True, help="counts CSV (the `footfall parse` format)")
    p.add_argument("--site", action="append", help="site file (repeatable); sites without one use the flags below")
    p.add_argument("--tz", default="UTC", help="IANA zone of sites without a site file")
    p.add_argument("--capacity", type=int, help="capacity of sites without a site file")
    p.add_argument("--opening-hours", help='"08:00-20:00" or "mon-fri=08:00-20:00;sat=09:00-12:00;sun=closed"')
    p.add_argument("--country", help="ISO country code, for public holidays")
    p.set_defaults(func=cmd_quality_check)
    p_presets = sub.add_parser("presets", help="vendor presets").add_subparsers(dest="presets_command", required=True)
    p = p_presets.add_parser("list", help="every preset with its kind and a one-line description")
    p.set_defaults(func=cmd_presets_list)
    for parent, func, text in (
        (sub, cmd_parse, "normalize and validate one payload file; print its intervals as a counts CSV"),
        (p_presets, cmd_presets_test, "what a preset reads from one file: readings, intervals, zone, totals"),
    ):
        p = parent.add_parser("parse" if func is cmd_parse else "test", help=text)
        p.add_argument("--preset", help="preset name (footfall presets list); default: the site file's")
        p.add_argument("--site", help="site file: device refs map to its counter ids, its zone is used")
        p.add_argument("--site-id", default="site", help="site id written in the site_id column (no --site)")
        p.add_argument("--tz", default="UTC", help="IANA zone of the site, for local-time formats (no --site)")
        p.add_argument("--option", action="append", type=_option_value, metavar="KEY=VALUE", help="preset option")
        p.add_argument("file", help="payload file (JSON, XML or CSV as the preset says)")
        p.set_defaults(func=func)
    p = sub.add_parser("replay", help="re-parse and reload a site's landed payloads with the current site file")
    p.add_argument("--site", required=True)
    p.add_argument("--from", dest="from_", required=True, type=_instant, help="range start (UTC if no offset)")
    p.add_argument("--to", required=True, type=_instant, help="range end")
    p.set_defaults(func=cmd_replay)
    p = p_quality.add_parser("docs", help="build the Great Expectations Data Docs site of recent validations")
    p.add_argument("--site", help="only this site's validations")
    p.add_argument("--out", type=Path, help="folder of the site (default: FOOTFALL_DATA_DOCS_DIR)")
    p.add_argument("--runs", type=int, default=24, help="latest runs per site to show (default 24)")
    p.set_defaults(func=cmd_quality_docs)

    return parser


def run_command(args: argparse.Namespace, prog: str) -> int:
    """Run a parsed command (`args.func`) with footfall's logging; a configuration error is exit 2 with
    its message (the footfall and footfall-dev commands both end here)."""
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    from footfall.config import ConfigError

    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(build_parser().parse_args(argv), "footfall")


if __name__ == "__main__":
    sys.exit(main())

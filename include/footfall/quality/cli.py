"""`footfall quality check`: every check on a counts CSV, one JSON line per flag."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from footfall.config import OpeningHours, QualityParams, load_site

from .context import SiteContext


def contexts_from_args(args: argparse.Namespace, site_ids: list[str]) -> dict[str, SiteContext]:
    """A context per site id in the file: its site file when given, else the --tz/--capacity/--opening-hours flags."""
    from .io import parse_opening_hours_spec

    files = {}
    for path in args.site or []:
        site = load_site(Path(path))
        files[site.id] = SiteContext.from_site(site)
    hours = OpeningHours.model_validate(parse_opening_hours_spec(args.opening_hours)) if args.opening_hours else None
    out = {}
    for site_id in site_ids:
        if site_id in files:
            out[site_id] = files[site_id]
        else:
            out[site_id] = SiteContext(
                site_id,
                args.tz,
                args.capacity,
                hours or OpeningHours(),
                args.country,
                QualityParams(),
            )
    return out


def check_counts_file(args: argparse.Namespace, out: TextIO) -> int:
    """Write every flag of the file as JSON lines; raises CountsFileError/ConfigError/ValueError on bad input."""
    from .io import read_counts_csv, write_flags_jsonl
    from .registry import check_sites

    counts = read_counts_csv(args.counts)
    contexts = contexts_from_args(args, sorted(counts["site_id"].unique()))
    flags = check_sites(counts, contexts, now=datetime.now(UTC))  # every site in one pass, as imports do
    return write_flags_jsonl(flags.sort_values(["site_id", "start", "check"], kind="stable"), out)

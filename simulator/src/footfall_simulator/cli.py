"""`footfall-simulator serve`: the simulated devices of a site registry (or a profiles file) over HTTP."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from footfall_simulator.faults import Fault
from footfall_simulator.profiles import load_profiles, profiles_from_sites
from footfall_simulator.server import serve
from footfall_simulator.traffic import DeviceProfile

EXIT_OK, EXIT_USAGE = 0, 2


def registry_profiles(sites_dir: Path | None) -> dict[str, DeviceProfile]:
    """One device per counter of each valid site file (footfall's registry, FOOTFALL_SITES_DIR by default)."""
    from footfall.config import load_registry

    sites, _ = load_registry(sites_dir)
    return profiles_from_sites(sites.values())


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        faults = [Fault.parse(text) for text in args.fault]
    except ValueError as exc:
        print(f"footfall-simulator: {exc}", file=sys.stderr)
        return EXIT_USAGE
    profiles = {} if args.no_registry else registry_profiles(args.sites_dir)
    if args.profiles:
        profiles.update(load_profiles(Path(args.profiles)))
    serve(args.host, args.port, profiles=profiles, seed=args.seed, faults=faults, verbose=args.verbose)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="footfall-simulator", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="serve simulated counting devices over HTTP")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fault", action="append", default=[], help="e.g. kind=gap,ref=ACCC8E000101,start=...,end=...")
    p.add_argument("--profiles", help="YAML or JSON file of device profiles (added to those from the registry)")
    p.add_argument("--sites-dir", type=Path, help="registry to derive devices from (default: FOOTFALL_SITES_DIR)")
    p.add_argument("--no-registry", action="store_true", help="only the devices of --profiles (footfall not needed)")
    p.set_defaults(func=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

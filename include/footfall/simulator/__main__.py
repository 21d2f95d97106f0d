"""Command line: ``python -m footfall.simulator --port 8099 --fault kind=gap,ref=ABC,...``."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from .faults import Fault
from .server import serve
from .traffic import DeviceProfile


def _load_profiles(path: Path) -> dict[str, DeviceProfile]:
    """Profiles from a JSON or YAML list of DeviceProfile fields."""
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yaml", ".yml"):
        import yaml  # only needed for YAML profile files

        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    items = data.get("devices", data) if isinstance(data, dict) else data
    profiles = [DeviceProfile.from_dict(item) for item in items]
    return {p.ref: p for p in profiles}


def _fault_arg(text: str) -> Fault:
    try:
        return Fault.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m footfall.simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profiles", type=Path, help="JSON or YAML list of device profiles")
    parser.add_argument(
        "--fault", action="append", default=[], type=_fault_arg, help="kind=...,ref=...,start=...,end=...,k=v"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    profiles = _load_profiles(args.profiles) if args.profiles else None
    serve(args.host, args.port, profiles, args.seed, args.fault, verbose=args.verbose)


if __name__ == "__main__":
    main()

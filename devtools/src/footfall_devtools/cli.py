"""`footfall-dev`: the developer's commands beside the product CLI (the demo, Airflow on this machine).

`footfall` is the product's command; these need a checkout (DAGs, plugins, the demo registry) and
the simulator, so they live here. The registry and data folder default to the checkout's.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence

from footfall_devtools import use_checkout_settings

EXIT_OK = 0


def cmd_demo(args: argparse.Namespace) -> int:
    from footfall_devtools.demo import run_demo

    return run_demo(hours=args.hours)


def cmd_airflow(args: argparse.Namespace) -> int:
    """Run Airflow with footfall's local settings (optionally with the simulator beside it)."""
    from footfall_devtools.local_airflow import airflow_command, airflow_env

    extra = {}
    simulator = None
    if args.simulator_port:
        from footfall.config import load_registry
        from footfall_devtools.demo import demo_connections, start_simulator

        simulator = start_simulator(args.simulator_port)
        extra["AIRFLOW_CONN_FOOTFALL_SIM"] = f"http://127.0.0.1:{args.simulator_port}"
        extra.update(demo_connections(load_registry()[0].values()))  # the demo's sql sites (filled by make demo)
    env = airflow_env(api_port=args.api_port, extra=extra)
    try:
        return subprocess.call([*airflow_command(), *args.airflow_args], env=env)
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        if simulator:
            simulator.terminate()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="footfall-dev", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="run every registry site's DAG through real Airflow runs, then summarize")
    p.add_argument("--hours", type=float, default=2.0, help="how many past hours to run (default 2)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "airflow", help="run airflow with footfall's local settings, e.g. `footfall-dev airflow standalone`"
    )
    p.add_argument("--api-port", type=int, default=8080)
    p.add_argument("--simulator-port", type=int, help="also serve the simulator here (connection footfall_sim)")
    p.add_argument("airflow_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_airflow)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    use_checkout_settings()
    from footfall.cli import run_command

    return run_command(args, "footfall-dev")


if __name__ == "__main__":
    sys.exit(main())

"""footfall: people-counting data from the counters sites already own, checked, stored and forecast.

The package is the library; Airflow DAGs, the CLI, the demo and the benchmarks all call it. It holds
no dev tooling (the simulator and the demo live beside it) and never locates the repository:
its site registry and data folder come from `footfall.settings`.
Heavy imports (pandas, Great Expectations) stay out of this module so DAG parsing stays cheap.
"""

from pathlib import Path

__version__ = "0.1.0"

PACKAGE_DIR = Path(__file__).resolve().parent
"""The installed package: its data files (presets, migrations, SQL) are found here."""

"""footfall: people-counting data from the counters sites already own, checked, stored and forecast.

The package is the library; Airflow DAGs, the CLI, the demo and the benchmarks all call it.
Heavy imports (pandas, Great Expectations) stay out of this module so DAG parsing stays cheap.
"""

from pathlib import Path

__version__ = "0.1.0"

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parents[1]

import sys

from footfall_simulator.cli import main

sys.exit(main())

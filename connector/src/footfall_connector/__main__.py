import sys

from footfall_connector.cli import main

sys.exit(main())

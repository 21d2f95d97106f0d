import sys

from footfall_devtools.cli import main

sys.exit(main())

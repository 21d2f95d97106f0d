"""The fault suite reuses the integration tests' helpers (the TLS ingestion service, the connector's
gate table and config writer): their folder is put on the import path here."""

from __future__ import annotations

import sys
from pathlib import Path

INTEGRATION = Path(__file__).resolve().parents[1] / "integration"
if str(INTEGRATION) not in sys.path:
    sys.path.insert(0, str(INTEGRATION))

"""Vendor simulator: emulated people-counting devices over real HTTP, with injectable faults.

Deterministic traffic (``traffic``), counting and transport faults (``faults``) and a
threaded HTTP server speaking vendor protocols (``server``), so the pipeline and its
tests run against loopback devices instead of mocks.
"""

from .faults import FAULT_KINDS, Fault, counts_with_faults
from .server import (
    ROUTES,
    DeviceRequest,
    DeviceResponse,
    HttpError,
    SimulatorHandle,
    register_route,
    serve,
    start_in_thread,
)
from .traffic import (
    DeviceProfile,
    IntervalArrays,
    SimInterval,
    count_arrays,
    count_intervals,
    local_day_bounds,
    occupancy_at,
)

__all__ = [
    "FAULT_KINDS",
    "ROUTES",
    "DeviceProfile",
    "DeviceRequest",
    "DeviceResponse",
    "Fault",
    "HttpError",
    "IntervalArrays",
    "SimInterval",
    "SimulatorHandle",
    "count_arrays",
    "count_intervals",
    "counts_with_faults",
    "local_day_bounds",
    "occupancy_at",
    "register_route",
    "serve",
    "start_in_thread",
]

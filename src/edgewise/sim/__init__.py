"""A simulated plant with injected faults of known ground truth, and the monitor the demo runs."""

from .monitor import (
    DEMO_DETECTOR,
    Alarm,
    Finding,
    MachineState,
    Monitor,
    evaluate,
)
from .plant import MACHINES, RESOLUTION, SENSORS, UNITS, Fault, Machine, Plant, default_faults

__all__ = [
    "DEMO_DETECTOR",
    "MACHINES",
    "RESOLUTION",
    "SENSORS",
    "UNITS",
    "Alarm",
    "Fault",
    "Finding",
    "Machine",
    "MachineState",
    "Monitor",
    "Plant",
    "default_faults",
    "evaluate",
]

"""Simulated devices with injected faults of known ground truth: a plant, smart meters,
wearables, the demo's fleet of all three; and the monitor the terminal demo runs."""

from .fleet import KINDS, Fleet, Kind
from .meters import METER_UNITS, Meters, demand_spike
from .monitor import (
    DEMO_DETECTOR,
    Alarm,
    Finding,
    MachineState,
    Monitor,
    evaluate,
)
from .plant import MACHINES, RESOLUTION, SENSORS, UNITS, Fault, Machine, Plant, default_faults
from .wearable import WEARABLE_UNITS, Wearables, racing_heart

__all__ = [
    "DEMO_DETECTOR",
    "KINDS",
    "MACHINES",
    "METER_UNITS",
    "RESOLUTION",
    "SENSORS",
    "UNITS",
    "WEARABLE_UNITS",
    "Alarm",
    "Fault",
    "Finding",
    "Fleet",
    "Kind",
    "Machine",
    "MachineState",
    "Meters",
    "Monitor",
    "Plant",
    "Wearables",
    "default_faults",
    "demand_spike",
    "evaluate",
    "racing_heart",
]

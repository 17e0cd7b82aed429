"""A simulated fleet month: the alerts a hub receives, real incidents among many nuisances.

The fleet (50 devices by default) is spread over sites; each site has, in turn, factory machines
(vibration, temperature, current), smart meters (power, voltage), wearables (heart rate, SpO2)
and a network gateway (security events: failed logins, port scans). What the hub receives is a
stream of :class:`~edgewise.hub.alerts.Event` objects, as the agents' detectors report them: an
alarm when an episode starts (again when a second view fires, and again when an agent resends
it), an end with the episode's length and peak score. Readings are one a minute and an episode
ends 30 readings after its last abnormal one, as the default detector does.

The ground truth (:class:`Truth`: incident or nuisance, of which type, which incident) is kept
apart from the events, aligned by index: whatever triages the events never sees it. The rates
are documented in ``docs/triage.md`` and in :data:`INCIDENTS` and :data:`NUISANCES`; they are
meant to overlap (real incidents that start like glitches, nuisances that look severe), so a
triage has something to get wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from edgewise.hub.alerts import Context, Event

__all__ = ["CLASSES", "INCIDENTS", "NUISANCES", "Device", "FleetMonth", "Truth", "fleet_month"]

_MINUTE = 60.0
_HOUR = 3600.0
_DAY = 86400.0
_END_AFTER = 30  # readings without an abnormal one that end an episode

CLASSES: dict[str, tuple[str, ...]] = {
    "machine": ("vibration", "temperature", "current"),
    "meter": ("power", "voltage"),
    "wearable": ("heart_rate", "spo2"),
    "gateway": ("auth", "network"),
}
"""Device classes and their streams (a gateway's streams carry security events)."""

_SITE_PATTERN = ("machine",) * 4 + ("meter",) * 3 + ("wearable",) * 2 + ("gateway",)

INCIDENTS: dict[str, str] = {
    "bearing": "machine: 2-5 short vibration episodes over days (like glitches), then a sustained "
    "one whose score grows; temperature follows in 60%",
    "overheating": "machine: temperature level shift of 1-10 h; a spike first in 30%; current "
    "too in 60%",
    "meter_fault": "meter: power level shift of 1-24 h; voltage too in 40%",
    "arrhythmia": "wearable: heart-rate episode of 10-90 readings; SpO2 too in 50%",
    "intrusion": "gateway: a burst of 10-60 failed logins; data alerts on 1-3 devices of the "
    "site in 70%, a port scan in 40%",
    "site_power": "4-8 machines and meters of one site alarm within 5 minutes",
    "sensor_failure": "one data stream stuck or out of range for 5-50 h",
}
"""Incident types and what they look like; means per month for 50 devices in :data:`_MEANS`."""

NUISANCES: dict[str, str] = {
    "glitch": "every data stream, 3 a month: 1-3 readings, score 0.55-1; 15% hit every stream "
    "of the device at once; 10% last 4-8 readings",
    "flapping": "6% of data streams a month: 4-15 short episodes 5-25 minutes apart",
    "maintenance": "every machine, 1 a month: every stream for 2-6 h, score 0.8-1; 20% not in "
    "the maintenance calendar",
    "benign_drift": "machine and meter streams, 0.3 a month: a lasting level change, score "
    "0.5-0.78, 100-3000 readings",
    "noisy_sensor": "4% of data streams: 1.5 short episodes a day all month, score 0.5-0.85",
    "exercise": "wearable heart rate, 8 a month: 5-45 readings, score 0.55-0.88; SpO2 artefact in "
    "25%",
    "login_typo": "gateway, 12 a month: 1-4 failed logins",
    "blocked_scan": "gateway, 6 a month: a port scan, score 0.6-0.95",
    "retry_storm": "gateway, 0.3 a month: a service retrying an old password 10-40 times",
    "duplicate": "25% of all alarms are resent 1-3 times within 2 minutes",
}
"""Nuisance types and their rates (per stream or device and month unless said)."""

_MEANS = {
    "bearing": 3.0,
    "overheating": 3.0,
    "meter_fault": 3.0,
    "arrhythmia": 3.0,
    "intrusion": 2.0,
    "site_power": 1.5,
    "sensor_failure": 2.0,
}


@dataclass(frozen=True, kw_only=True)
class Device:
    name: str
    site: str
    cls: str

    @property
    def streams(self) -> tuple[str, ...]:
        return CLASSES[self.cls]


@dataclass(frozen=True, kw_only=True)
class Truth:
    """What an event really was: part of incident ``incident`` of type ``type``, or a nuisance."""

    label: Literal["incident", "nuisance"]
    type: str
    incident: int | None = None


@dataclass(frozen=True, kw_only=True)
class FleetMonth:
    """The events in time order, their truth (same order) and what the hub knows of devices."""

    devices: tuple[Device, ...]
    events: tuple[Event, ...]
    truth: tuple[Truth, ...]
    context: Context
    days: int
    incidents: dict[int, str] = field(default_factory=dict)


class _Builder:
    def __init__(self, *, rng: np.random.Generator, days: int) -> None:
        self.rng = rng
        self.days = days
        self.items: list[tuple[Event, Truth]] = []
        self.maintenance: dict[str, list[tuple[float, float]]] = {}
        self.incidents: dict[int, str] = {}

    def uniform(self, low: float, high: float) -> float:
        return float(self.rng.uniform(low, high))

    def whenever(self, *, margin_days: float = 1.0) -> float:
        return self.uniform(0.0, (self.days - margin_days) * _DAY)

    def count(self, mean: float) -> int:
        return int(self.rng.poisson(mean))

    def incident(self, kind: str) -> Truth:
        number = len(self.incidents) + 1
        self.incidents[number] = kind
        return Truth(label="incident", type=kind, incident=number)

    def episode(
        self,
        *,
        device: Device,
        stream: str,
        at: float,
        kind: str,
        score: float,
        readings: int,
        truth: Truth,
        peak: float | None = None,
        repeats: int = 0,
    ) -> None:
        """An alarm, its second views and resends, and the end: what one episode sends."""
        category: Literal["data", "security"] = "security" if device.cls == "gateway" else "data"
        peak = max(score, peak if peak is not None else score)
        alarms = [(at, score, 1)]
        span = max(readings - 1, 1) * _MINUTE
        for k in range(repeats):  # second views fire later in the episode, the score grows
            later = at + span * (k + 1) / (repeats + 1)
            grown = score + (peak - score) * (k + 1) / repeats
            alarms.append((later, grown, 1 + int((later - at) / _MINUTE)))
        if self.rng.random() < 0.25:  # an agent resends an alarm whose acknowledgement was lost
            first = alarms[0]
            for _ in range(int(self.rng.integers(1, 4))):
                alarms.append((first[0] + self.uniform(5.0, 120.0), first[1], first[2]))
        for when, value, seen in alarms:
            event = Event(
                at=when,
                device=device.name,
                site=device.site,
                stream=stream,
                kind=kind,
                category=category,
                score=value,
                episode_readings=min(seen, readings),
            )
            self.items.append((event, truth))
        end = at + (readings + _END_AFTER) * _MINUTE
        closing = Event(
            at=end,
            device=device.name,
            site=device.site,
            stream=stream,
            kind=kind,
            category=category,
            score=peak,
            phase="end",
            episode_readings=readings,
        )
        self.items.append((closing, truth))

    def readings(self, low: int, high: int) -> int:
        return int(self.rng.integers(low, high + 1))


def _fleet(n_devices: int, sites: int) -> tuple[Device, ...]:
    return tuple(
        Device(
            name=f"{_SITE_PATTERN[i % len(_SITE_PATTERN)]}-{i:02d}",
            site=f"site-{i * sites // n_devices + 1}",
            cls=_SITE_PATTERN[i % len(_SITE_PATTERN)],
        )
        for i in range(n_devices)
    )


def _nuisances(b: _Builder, devices: tuple[Device, ...]) -> None:
    for device in devices:
        if device.cls == "gateway":
            _security_nuisances(b, device)
            continue
        for stream in device.streams:
            _stream_nuisances(b, device, stream)
        if device.cls == "machine":
            _maintenance(b, device)
        if device.cls == "wearable":
            for _ in range(b.count(8.0)):
                at = _daytime(b)
                truth = Truth(label="nuisance", type="exercise")
                b.episode(
                    device=device,
                    stream="heart_rate",
                    at=at,
                    kind="range",
                    score=b.uniform(0.55, 0.88),
                    readings=b.readings(5, 45),
                    truth=truth,
                    repeats=int(b.rng.integers(0, 2)),
                )
                if b.rng.random() < 0.25:
                    b.episode(
                        device=device,
                        stream="spo2",
                        at=at + b.uniform(0, 600),
                        kind="range",
                        score=b.uniform(0.5, 0.8),
                        readings=b.readings(1, 3),
                        truth=truth,
                    )


def _daytime(b: _Builder) -> float:
    day = float(b.rng.integers(0, b.days - 1))
    return day * _DAY + b.uniform(7 * _HOUR, 21 * _HOUR)


def _stream_nuisances(b: _Builder, device: Device, stream: str) -> None:
    for _ in range(b.count(3.0)):
        at, wide, truth = b.whenever(), b.rng.random(), Truth(label="nuisance", type="glitch")
        long = b.rng.random() < 0.10
        for target in device.streams if wide < 0.15 else (stream,):
            b.episode(
                device=device,
                stream=target,
                at=at + b.uniform(0, 30),
                kind="range",
                score=b.uniform(0.55, 1.0),
                readings=b.readings(4, 8) if long else b.readings(1, 3),
                truth=truth,
            )
    if b.rng.random() < 0.06:
        at, truth = b.whenever(), Truth(label="nuisance", type="flapping")
        high = b.rng.random() < 0.1
        for _ in range(b.readings(4, 15)):
            readings = b.readings(1, 4)
            score = b.uniform(0.85, 0.97) if high else b.uniform(0.5, 0.75)
            b.episode(
                device=device,
                stream=stream,
                at=at,
                kind="level",
                score=score,
                readings=readings,
                truth=truth,
            )
            at += (readings + _END_AFTER) * _MINUTE + b.uniform(5, 25) * _MINUTE
    if device.cls in ("machine", "meter"):
        for _ in range(b.count(0.3)):
            b.episode(
                device=device,
                stream=stream,
                at=b.whenever(),
                kind="level",
                score=b.uniform(0.5, 0.65),
                peak=b.uniform(0.5, 0.78),
                readings=b.readings(100, 3000),
                repeats=int(b.rng.integers(0, 2)),
                truth=Truth(label="nuisance", type="benign_drift"),
            )
    if b.rng.random() < 0.04:
        truth = Truth(label="nuisance", type="noisy_sensor")
        for _ in range(b.count(1.5 * b.days)):
            b.episode(
                device=device,
                stream=stream,
                at=b.whenever(margin_days=0.1),
                kind=str(b.rng.choice(["range", "shape"])),
                score=b.uniform(0.5, 0.85),
                readings=b.readings(1, 6),
                truth=truth,
            )


def _maintenance(b: _Builder, device: Device) -> None:
    for _ in range(b.count(1.0)):
        at, hours = b.whenever(), b.uniform(2.0, 6.0)
        if b.rng.random() < 0.8:  # scheduled: in the calendar, a little wider than the work
            window = (at - b.uniform(0, 1) * _HOUR, at + (hours + 1) * _HOUR)
            b.maintenance.setdefault(device.name, []).append(window)
        truth = Truth(label="nuisance", type="maintenance")
        for stream in device.streams:
            b.episode(
                device=device,
                stream=stream,
                at=at + b.uniform(0, 300),
                kind=str(b.rng.choice(["stuck", "range"])),
                score=b.uniform(0.8, 1.0),
                readings=int(hours * 60),
                truth=truth,
            )


def _security_nuisances(b: _Builder, gateway: Device) -> None:
    for kind, stream, mean, logins, scores in (
        ("login_typo", "auth", 12.0, (1, 4), (0.4, 0.7)),
        ("blocked_scan", "network", 6.0, (1, 3), (0.6, 0.95)),
        ("retry_storm", "auth", 0.3, (10, 40), (0.5, 0.8)),
    ):
        event_kind = "port_scan" if stream == "network" else "login_failure"
        for _ in range(b.count(mean)):
            _burst(
                b,
                gateway,
                stream=stream,
                kind=event_kind,
                at=b.whenever(),
                n=b.readings(*logins),
                scores=scores,
                truth=Truth(label="nuisance", type=kind),
            )


def _burst(
    b: _Builder,
    gateway: Device,
    *,
    stream: str,
    kind: str,
    at: float,
    n: int,
    scores: tuple[float, float],
    truth: Truth,
) -> None:
    """``n`` security events a few minutes apart (each its own one-reading episode)."""
    for _ in range(n):
        b.episode(
            device=gateway,
            stream=stream,
            at=at,
            kind=kind,
            score=b.uniform(*scores),
            readings=1,
            truth=truth,
        )
        at += b.uniform(10.0, 120.0)


def _incidents(b: _Builder, devices: tuple[Device, ...], scale: float) -> None:
    by_class = {cls: [d for d in devices if d.cls == cls] for cls in CLASSES}
    sites = sorted({d.site for d in devices})
    for kind, mean in _MEANS.items():
        for _ in range(b.count(mean * scale)):
            truth = b.incident(kind)
            pick = by_class["gateway" if kind == "intrusion" else _CLASS_OF.get(kind, "machine")]
            if kind == "site_power":
                _site_power(b, devices, str(b.rng.choice(sites)), truth)
            elif kind == "sensor_failure":
                device = devices[int(b.rng.integers(len(devices)))]
                while device.cls == "gateway":
                    device = devices[int(b.rng.integers(len(devices)))]
                stream = str(b.rng.choice(device.streams))
                b.episode(
                    device=device,
                    stream=stream,
                    at=b.whenever(margin_days=3),
                    kind="stuck" if b.rng.random() < 0.7 else "range",
                    score=b.uniform(0.65, 0.95),
                    readings=b.readings(300, 3000),
                    truth=truth,
                )
            elif pick:
                device = pick[int(b.rng.integers(len(pick)))]
                _INCIDENT[kind](b, device, devices, truth)


_CLASS_OF = {"meter_fault": "meter", "arrhythmia": "wearable"}


def _bearing(b: _Builder, machine: Device, devices: tuple[Device, ...], truth: Truth) -> None:
    at = b.whenever(margin_days=5)
    for _ in range(b.readings(2, 5)):  # early signs: short, moderate, like glitches
        b.episode(
            device=machine,
            stream="vibration",
            at=at,
            kind="shape",
            score=b.uniform(0.5, 0.75),
            readings=b.readings(1, 4),
            truth=truth,
        )
        at += b.uniform(4, 20) * _HOUR
    b.episode(
        device=machine,
        stream="vibration",
        at=at,
        kind="shape",
        score=b.uniform(0.6, 0.85),
        peak=b.uniform(0.85, 0.99),
        readings=b.readings(200, 2000),
        repeats=2,
        truth=truth,
    )
    if b.rng.random() < 0.6:
        b.episode(
            device=machine,
            stream="temperature",
            at=at + b.uniform(1, 6) * _HOUR,
            kind="level",
            score=b.uniform(0.6, 0.9),
            readings=b.readings(100, 1000),
            truth=truth,
        )


def _overheating(b: _Builder, machine: Device, devices: tuple[Device, ...], truth: Truth) -> None:
    at = b.whenever()
    if b.rng.random() < 0.3:
        b.episode(
            device=machine,
            stream="temperature",
            at=at - b.uniform(10, 60) * _MINUTE,
            kind="range",
            score=b.uniform(0.55, 0.8),
            readings=b.readings(1, 2),
            truth=truth,
        )
    b.episode(
        device=machine,
        stream="temperature",
        at=at,
        kind="level",
        score=b.uniform(0.6, 0.8),
        peak=b.uniform(0.7, 0.98),
        readings=b.readings(60, 600),
        repeats=1,
        truth=truth,
    )
    if b.rng.random() < 0.6:
        b.episode(
            device=machine,
            stream="current",
            at=at + b.uniform(0, 30) * _MINUTE,
            kind="level",
            score=b.uniform(0.55, 0.85),
            readings=b.readings(30, 300),
            truth=truth,
        )


def _meter_fault(b: _Builder, meter: Device, devices: tuple[Device, ...], truth: Truth) -> None:
    at = b.whenever()
    b.episode(
        device=meter,
        stream="power",
        at=at,
        kind="level",
        score=b.uniform(0.6, 0.85),
        peak=b.uniform(0.72, 0.98),
        readings=b.readings(60, 1440),
        repeats=1,
        truth=truth,
    )
    if b.rng.random() < 0.4:
        b.episode(
            device=meter,
            stream="voltage",
            at=at + b.uniform(0, 20) * _MINUTE,
            kind="range",
            score=b.uniform(0.6, 0.9),
            readings=b.readings(10, 300),
            truth=truth,
        )


def _arrhythmia(b: _Builder, wearable: Device, devices: tuple[Device, ...], truth: Truth) -> None:
    at = b.whenever()
    b.episode(
        device=wearable,
        stream="heart_rate",
        at=at,
        kind="range",
        score=b.uniform(0.65, 0.85),
        peak=b.uniform(0.7, 0.98),
        readings=b.readings(10, 90),
        repeats=int(b.rng.integers(1, 4)),
        truth=truth,
    )
    if b.rng.random() < 0.5:
        b.episode(
            device=wearable,
            stream="spo2",
            at=at + b.uniform(0, 10) * _MINUTE,
            kind="range",
            score=b.uniform(0.6, 0.9),
            readings=b.readings(5, 60),
            truth=truth,
        )


def _intrusion(b: _Builder, gateway: Device, devices: tuple[Device, ...], truth: Truth) -> None:
    at = b.whenever()
    _burst(
        b,
        gateway,
        stream="auth",
        kind="login_failure",
        at=at,
        n=b.readings(10, 60),
        scores=(0.6, 0.9),
        truth=truth,
    )
    site = [d for d in devices if d.site == gateway.site and d.cls != "gateway"]
    if site and b.rng.random() < 0.7:
        for k in b.rng.choice(len(site), size=min(len(site), b.readings(1, 3)), replace=False):
            target = site[int(k)]
            b.episode(
                device=target,
                stream=str(b.rng.choice(target.streams)),
                at=at + b.uniform(15, 60) * _MINUTE,
                kind="range",
                score=b.uniform(0.6, 0.95),
                readings=b.readings(5, 200),
                truth=truth,
            )
    if b.rng.random() < 0.4:
        _burst(
            b,
            gateway,
            stream="network",
            kind="port_scan",
            at=at - b.uniform(0, 2) * _HOUR,
            n=b.readings(1, 3),
            scores=(0.6, 0.95),
            truth=truth,
        )


def _site_power(b: _Builder, devices: tuple[Device, ...], site: str, truth: Truth) -> None:
    powered = [d for d in devices if d.site == site and d.cls in ("machine", "meter")]
    if not powered:
        return
    at = b.whenever()
    chosen = b.rng.choice(len(powered), size=min(len(powered), b.readings(4, 8)), replace=False)
    for k in chosen:
        device = powered[int(k)]
        stream = "voltage" if device.cls == "meter" else "current"
        b.episode(
            device=device,
            stream=stream,
            at=at + b.uniform(0, 300),
            kind="range",
            score=b.uniform(0.8, 1.0),
            readings=b.readings(10, 120),
            truth=truth,
        )


_INCIDENT = {
    "bearing": _bearing,
    "overheating": _overheating,
    "meter_fault": _meter_fault,
    "arrhythmia": _arrhythmia,
    "intrusion": _intrusion,
}


def fleet_month(*, seed: int, n_devices: int = 50, sites: int = 5, days: int = 30) -> FleetMonth:
    """A month of alerts over ``n_devices`` devices at ``sites`` sites, the same for one seed.

    Incident counts are Poisson with the means of :data:`INCIDENTS` for 50 devices, scaled to
    ``n_devices``; nuisance rates are per stream or device (:data:`NUISANCES`).

    Examples
    --------
    >>> month = fleet_month(seed=0, n_devices=10, sites=1, days=7)
    >>> len(month.events) == len(month.truth), month.events[0].at <= month.events[-1].at
    (True, True)
    """
    if n_devices < 1 or not 1 <= sites <= n_devices or days < 7:
        raise ValueError("a fleet month needs devices >= sites >= 1 and at least 7 days")
    b = _Builder(rng=np.random.default_rng(seed), days=days)
    devices = _fleet(n_devices, sites)
    _nuisances(b, devices)
    _incidents(b, devices, scale=n_devices / 50 * days / 30)
    order = sorted(range(len(b.items)), key=lambda k: b.items[k][0].at)
    return FleetMonth(
        devices=devices,
        events=tuple(b.items[k][0] for k in order),
        truth=tuple(b.items[k][1] for k in order),
        context=Context(maintenance={k: tuple(v) for k, v in b.maintenance.items()}),
        days=days,
        incidents=dict(b.incidents),
    )

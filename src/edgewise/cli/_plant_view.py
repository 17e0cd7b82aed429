"""What ``edgewise demo`` shows: the plant in simulated time, live or line by line; a verdict."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from edgewise.sim.monitor import Alarm, Finding, Monitor, evaluate
from edgewise.sim.plant import SENSORS, UNITS, Plant

from ._common import interactive

__all__ = ["play_demo"]

_FRAME = 0.25  # seconds between two refreshes of the live view
_BARS = "▁▂▃▄▅▆▇█"
_LOG_LINES = 8


def _clock(plant: Plant, seconds: float) -> str:
    """Simulated wall-clock time and time since the start, e.g. ``Mon 14:32 (+8h32m)``."""
    moment = datetime.fromtimestamp(plant.start + seconds, UTC)
    hours, minutes = divmod(int(seconds // 60), 60)
    return f"{moment:%a %H:%M} {f'(+{hours}h{minutes:02d}m)':<10}"


def _pace(speed: float) -> str:
    """``x600``, ``x0.5``, ``x1e+300``: any --speed in a few characters, not hundreds of digits."""
    return f"x{speed:,.0f}" if 1.0 <= speed < 1e12 else f"x{speed:.3g}"


def _sparkline(values: Iterable[float]) -> str:
    points = list(values)
    present = [v for v in points if not math.isnan(v)]
    if not present:
        return " " * len(points)
    low, high = min(present), max(present)
    span = (high - low) or 1.0
    return "".join(
        " " if math.isnan(v) else _BARS[int((v - low) / span * (len(_BARS) - 1))] for v in points
    )


def _alarm_line(plant: Plant, alarm: Alarm) -> str:
    return (
        f"{_clock(plant, alarm.time)}  {alarm.machine:<8} {alarm.sensor:<12} "
        f"{alarm.check}: {alarm.detail}"
    )


def _live_view(plant: Plant, monitor: Monitor, now: float, speed: float) -> RenderableType:
    header = Text.assemble(
        ("edgewise demo", "bold"),
        f"  simulated plant, seed {plant.seed}  ·  {_clock(plant, now)}  ·  {_pace(speed)}  ·  ",
        f"{min(now / plant.duration, 1.0):.0%} of the story",
    )
    streams = Table(box=box.SIMPLE_HEAD, expand=False)
    for column, justify in (
        ("machine", "left"),
        ("sensor", "left"),
        ("value", "right"),
        ("recent readings", "left"),
        ("status", "left"),
        ("machine score", "right"),
    ):
        streams.add_column(column, justify=justify)  # type: ignore[arg-type]
    styles = {"ok": "green", "stuck": "yellow", "no data": "yellow", "ANOMALY": "bold red"}
    for name in plant.machines:
        state = monitor.state(name)
        for i, sensor in enumerate(SENSORS):
            value = state.values.get(sensor, math.nan)
            status = state.status.get(sensor, "ok")
            streams.add_row(
                name if i == 0 else "",
                sensor,
                "—" if math.isnan(value) else f"{value:.2f} {UNITS[sensor]}",
                _sparkline(state.history.get(sensor, [])),
                Text(status, style=styles.get(status, "dim")),
                f"{state.score:.2f}" if i == 0 else "",
            )
    log = Table(title="detections", box=box.SIMPLE, show_header=False, title_justify="left")
    log.add_column("alarm", no_wrap=True, overflow="ellipsis")
    for alarm in monitor.alarms[-_LOG_LINES:]:
        log.add_row(_alarm_line(plant, alarm))
    if not monitor.alarms:
        log.add_row(Text("none yet", style="dim"))
    return Group(header, streams, log)


def _summary(
    plant: Plant,
    findings: Sequence[Finding],
    alarms: Sequence[Alarm],
    false_alarms: int,
    end: float,
) -> Table:
    table = Table(title="Injected faults and what found them", box=box.SIMPLE_HEAD)
    for column in ("fault", "machine", "sensors", "began", "found by", "after"):
        table.add_column(column)
    for finding in findings:
        fault, alarm = finding.fault, finding.alarm
        if alarm is not None:
            found, after = alarm.check, f"{finding.delay_minutes:.0f} min"
        else:
            found, after = ("NOT FOUND" if fault.start <= end else "(not reached)"), ""
        table.add_row(
            fault.kind,
            fault.machine,
            ", ".join(fault.sensors),
            _clock(plant, fault.start).split(" (")[0],
            found,
            after,
        )
    table.caption = f"{len(alarms)} alarms in all; false alarms: {false_alarms}"
    return table


def _play(
    plant: Plant,
    monitor: Monitor,
    *,
    duration: float,
    speed: float,
    on_alarm: Callable[[Alarm], None] | None = None,
    on_frame: Callable[[float], None] | None = None,
) -> float:
    """Stream the plant's readings in simulated time ``speed`` times faster than wall time.

    Ends when the story or ``duration`` wall seconds are over; returns the simulated seconds
    played. When the machine cannot keep up, the view still refreshes every frame.
    """
    readings = plant.readings()
    pending = next(readings, None)
    now = 0.0
    begun = time.monotonic()
    while pending is not None and (frame := time.monotonic()) - begun < duration:
        horizon = plant.start + (frame - begun) * speed
        while pending is not None and pending.timestamp <= horizon:
            for alarm in monitor.update(pending):
                if on_alarm is not None:
                    on_alarm(alarm)
            now = pending.timestamp - plant.start
            pending = next(readings, None)
            if time.monotonic() - frame > _FRAME:
                break
        if on_frame is not None:
            on_frame(now)
        if pending is not None:
            due = (pending.timestamp - plant.start) / speed - (time.monotonic() - begun)
            time.sleep(min(_FRAME, max(due, 0.0)))
    return now


def play_demo(*, duration: float, seed: int, plain: bool, speed: float | None) -> None:
    """Run ``edgewise demo`` (see its help for the meaning of each option)."""
    started = time.monotonic()
    plant = Plant(seed=seed)
    watch = interactive() and not plain
    console = Console(width=None if watch else 120)  # a log file is no 80-column terminal
    console.print(
        f"edgewise demo: a simulated plant ({', '.join(plant.machines)}), seed {seed}; "
        f"commissioning on {plant.commissioning:g} hours of normal readings...",
        highlight=False,
    )
    monitor = Monitor(start=plant.start)
    monitor.commission(plant.history())
    # --duration covers the whole demo, commissioning included.
    remaining = max(duration - (time.monotonic() - started), _FRAME)
    speed = speed or plant.duration / remaining
    if not watch:
        console.print(f"playing {plant.hours:g} simulated hours at {_pace(speed)}", highlight=False)
    if not watch:
        now = _play(
            plant,
            monitor,
            duration=remaining,
            speed=speed,
            on_alarm=lambda alarm: console.print(
                _alarm_line(plant, alarm), highlight=False, soft_wrap=True
            ),
        )
    else:
        with Live(console=console, auto_refresh=False) as live:
            now = _play(
                plant,
                monitor,
                duration=remaining,
                speed=speed,
                on_frame=lambda t: live.update(_live_view(plant, monitor, t, speed), refresh=True),
            )
    findings, false_alarms = evaluate(plant.faults, monitor.alarms)
    console.print(_summary(plant, findings, monitor.alarms, len(false_alarms), now))

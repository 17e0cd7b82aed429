"""``edgewise demo``: a simulated plant streams through the default pipeline, then a verdict."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["demo"]


def _speed(value: float | None) -> float | None:
    # Typer's ranges include their bound, and a speed of 0 would never play a reading.
    if value is not None and not value > 0.0:
        raise typer.BadParameter(f"{value:g} is not above 0")
    return value


def demo(
    duration: Annotated[
        float, typer.Option(min=0.1, help="Wall-clock seconds the demo runs for.")
    ] = 60.0,
    seed: Annotated[int, typer.Option(help="Seed of the simulated plant.")] = 0,
    plain: Annotated[
        bool,
        typer.Option(
            help="A line per detection instead of the live view (automatic when not a terminal)."
        ),
    ] = False,
    speed: Annotated[
        float | None,
        typer.Option(
            callback=_speed,
            help="Simulated seconds per wall-clock second, above 0 (1e9: as fast as the machine "
            "can). Default: the whole story (24 simulated hours) fits into --duration.",
        ),
    ] = None,
) -> None:
    """Watch a simulated plant: three machines, nine sensors, three injected faults.

    No external service: a seeded simulator plays a day in a small plant (load drives motor
    current and temperature; vibration follows) with a bearing that starts to fail, a temperature
    sensor that gets stuck and a current sensor that drops out. Every reading goes through the
    default cleaning (stuck and missing-data checks, last-value imputation) and the default
    detector of its machine. At the end, each fault is matched with the first alarm that found it.
    """
    from ._plant_view import play_demo  # the simulator loads only when the demo runs

    play_demo(duration=duration, seed=seed, plain=plain, speed=speed)

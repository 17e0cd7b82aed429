"""``edgewise demo``: a simulated fleet, an edge agent and the hub's dashboard; or, with
``--terminal``, a simulated plant through the default pipeline in the terminal."""

from __future__ import annotations

from typing import Annotated

import typer

from ._common import InputError

__all__ = ["demo"]


def _speed(value: float | None) -> float | None:
    # Typer's ranges include their bound, and a speed of 0 would never play a reading.
    if value is not None and not value > 0.0:
        raise typer.BadParameter(f"{value:g} is not above 0")
    return value


def demo(
    duration: Annotated[
        float | None,
        typer.Option(
            min=0.1,
            help="Wall-clock seconds the demo runs for (default: until Ctrl-C on the dashboard, "
            "60 in the terminal).",
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the simulated devices.")] = 0,
    speed: Annotated[
        float | None,
        typer.Option(
            callback=_speed,
            help="Simulated seconds per wall-clock second, above 0 (1e9: as fast as the machine "
            "can). Default: 600 on the dashboard; in the terminal, the whole story (24 "
            "simulated hours) fits into --duration.",
        ),
    ] = None,
    terminal: Annotated[
        bool,
        typer.Option(
            "--terminal", help="No hub and no browser: the simulated plant in the terminal."
        ),
    ] = False,
    plain: Annotated[
        bool,
        typer.Option(
            help="In the terminal (implies --terminal), a line per detection instead of the "
            "live view (automatic when not a terminal)."
        ),
    ] = False,
    broker: Annotated[
        str | None,
        typer.Option(
            help="mqtt://HOST[:PORT]: the devices publish there and the agent subscribes."
        ),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(help="The hub's database URL (default: SQLite in a temporary folder)."),
    ] = None,
) -> None:
    """The whole system in a minute: simulated devices, an edge agent, the hub's dashboard.

    About twenty simulated devices (three factory machines, smart meters, wearables), each
    scenario with an injected fault, stream to a real edge agent, which runs every reading
    through the default pipeline and sends readings, scores and alarms to a hub serving the
    dashboard. It prints the dashboard's address and a one-time admin login; Ctrl-C stops it
    all. No external service is needed; --broker and --db use real ones.

    With --terminal (or --plain): no hub, a plant of three machines with a failing bearing, a
    stuck sensor and a dropout, watched in the terminal and ended with a verdict on each fault.
    """
    if terminal or plain:
        if broker is not None or db is not None:
            raise InputError("--broker and --db are for the dashboard demo, not --terminal")
        from ._plant_view import play_demo  # the simulator loads only when the demo runs

        play_demo(
            duration=60.0 if duration is None else duration, seed=seed, plain=plain, speed=speed
        )
        return
    from ._web_demo import DEFAULT_SPEED, broker_of, run_web_demo

    run_web_demo(
        duration=duration,
        seed=seed,
        speed=DEFAULT_SPEED if speed is None else speed,
        broker=None if broker is None else broker_of(broker),
        db=db,
    )

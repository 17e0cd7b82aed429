"""``edgewise hub``: run the hub's API, add and revoke devices, queue commands for agents."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated

import typer

from ._common import InputError, say, show_help_if_bare

__all__ = ["app"]

app = typer.Typer(
    help="The hub: receives the agents' batches, stores each record once, sends commands back.",
    invoke_without_command=True,
)
device_app = typer.Typer(help="Devices and their tokens.", invoke_without_command=True)
app.add_typer(device_app, name="device")

DbOption = Annotated[
    str,
    typer.Option(
        "--db",
        envvar="EDGEWISE_HUB_DB",
        help="Database URL: sqlite:///FILE or postgresql://USER@HOST/DB.",
        show_default=True,
    ),
]
DEFAULT_DB = "sqlite:///edgewise-hub.db"


@app.callback()
def _group(ctx: typer.Context) -> None:
    show_help_if_bare(ctx)


@device_app.callback()
def _device_group(ctx: typer.Context) -> None:
    show_help_if_bare(ctx)


def _loopback(host: str) -> bool:
    """Whether ``host`` is reachable only from this machine.

    >>> _loopback("127.0.0.1"), _loopback("::1"), _loopback("localhost"), _loopback("0.0.0.0")
    (True, True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def _check_bind(host: str, tls_cert: Path | None, tls_key: Path | None) -> None:
    """Refuse plain HTTP beyond loopback, and half a TLS configuration."""
    if (tls_cert is None) != (tls_key is None):
        raise InputError("give both --tls-cert and --tls-key, or neither")
    if tls_cert is None and not _loopback(host):
        raise InputError(
            f"refusing to serve plain HTTP on {host}: give --tls-cert and --tls-key "
            "(or listen on 127.0.0.1 behind a TLS proxy)"
        )
    for path in (tls_cert, tls_key):
        if path is not None and not path.is_file():
            raise InputError(f"{path}: no such file")


@app.command()
def run(
    db: DbOption = DEFAULT_DB,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
    tls_cert: Annotated[
        Path | None, typer.Option(help="TLS certificate (PEM); needed beyond loopback.")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option(help="TLS private key (PEM).")] = None,
    max_batch_bytes: Annotated[
        int, typer.Option(min=1024, help="Largest batch accepted, decompressed (bytes).")
    ] = 4 << 20,
    max_concurrent: Annotated[
        int, typer.Option(min=1, help="Ingests handled at once; more are answered 503.")
    ] = 8,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Upgrade the database, then serve the API until interrupted."""
    import uvicorn

    from edgewise.hub import HubError, create_app, upgrade

    _check_bind(host, tls_cert, tls_key)
    try:
        upgrade(db)
        api = create_app(db_url=db, max_batch_bytes=max_batch_bytes, max_concurrent=max_concurrent)
    except HubError as error:
        raise InputError(str(error)) from None
    uvicorn.run(
        api,
        host=host,
        port=port,
        ssl_certfile=None if tls_cert is None else str(tls_cert),
        ssl_keyfile=None if tls_key is None else str(tls_key),
        log_level=log_level.lower(),
    )


@device_app.command("add")
def device_add(
    name: Annotated[str, typer.Argument(help="The agent's device id.")],
    covers: Annotated[
        list[str] | None,
        typer.Option("--covers", help="Another device the agent fronts (repeatable)."),
    ] = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Add a device; print its token on stdout, once (the hub keeps only its hash)."""
    from edgewise.hub import HubError, add_device, upgrade

    try:
        upgrade(db)
        token = add_device(db, name, covers=covers or ())
    except HubError as error:
        raise InputError(str(error)) from None
    covered = ", ".join(dict.fromkeys([name, *(covers or ())]))
    say(f"device {name} added; its token covers {covered}. It is shown once: store it now.")
    typer.echo(token)


@device_app.command("revoke")
def device_revoke(
    name: Annotated[str, typer.Argument(help="The device to revoke.")],
    db: DbOption = DEFAULT_DB,
) -> None:
    """Revoke a device and its tokens: its agent is refused from the next request on."""
    from edgewise.hub import HubError, revoke_device

    try:
        revoke_device(db, name)
    except HubError as error:
        raise InputError(str(error)) from None
    say(f"device {name} revoked")


@app.command()
def relearn(
    device: Annotated[str, typer.Argument(help="The device the stream belongs to.")],
    stream: Annotated[str, typer.Argument(help="The stream whose change is the new normal.")],
    db: DbOption = DEFAULT_DB,
) -> None:
    """Queue a relearn command: the stream's lasting change is accepted as its new normal."""
    from edgewise.hub import HubError, queue_command

    try:
        command = queue_command(db, device, "relearn", stream=stream)
    except HubError as error:
        raise InputError(str(error)) from None
    say(f"command {command} queued: {device} relearns {stream} when its agent next calls")


@app.command()
def assign(
    device: Annotated[str, typer.Argument(help="The device (agent) whose streams change.")],
    streams: Annotated[
        str, typer.Argument(help="Which streams: a name or a glob such as 'pump-*'.")
    ],
    spec: Annotated[
        Path,
        typer.Option(
            "--spec", help="The pipeline spec, YAML or JSON (docs/architecture.md, Pipeline specs)."
        ),
    ],
    db: DbOption = DEFAULT_DB,
) -> None:
    """Queue a pipeline command: the device's matching streams run this spec from now on.

    The spec is checked here first; the agent checks it again and reports a refusal back.
    """
    from edgewise.hub import HubError, queue_command
    from edgewise.stream import Pipeline, SpecError, load_spec

    try:
        document = load_spec(spec)
        Pipeline.from_spec(document)
    except SpecError as error:
        raise InputError(f"{spec}: the pipeline spec does not build: {error}") from None
    try:
        command = queue_command(db, device, "pipeline", body={"spec": document, "streams": streams})
    except HubError as error:
        raise InputError(str(error)) from None
    say(f"command {command} queued: {device} runs {spec.name} on {streams} from its next call")

"""``edgewise agent``: run the edge agent, or check its configuration."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from ._common import InputError, say, show_help_if_bare

if TYPE_CHECKING:
    from edgewise.agent import ConfigError

__all__ = ["app"]

app = typer.Typer(
    help="The edge agent: inputs, pipelines, actions, a durable outbox, the uplink.",
    invoke_without_command=True,
)


class _JsonLines(logging.Formatter):
    """One JSON object a line: time, level, logger, message (and the traceback, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry)


ConfigArgument = Annotated[Path, typer.Argument(help="The agent's YAML configuration.")]


def _exit_with(error: ConfigError) -> NoReturn:
    for line in error.errors:
        typer.echo(line, err=True)
    raise typer.Exit(2)


@app.callback()
def _group(ctx: typer.Context) -> None:
    show_help_if_bare(ctx)


@app.command()
def check(config: ConfigArgument) -> None:
    """Validate a configuration: every error as file:line:column: message; exit code 2 if any."""
    from edgewise.agent import ConfigError, load_config

    try:
        load_config(config)
    except ConfigError as error:
        _exit_with(error)
    typer.echo(f"{config}: ok")


@app.command()
def run(
    config: Annotated[Path, typer.Option("--config", help="The agent's YAML configuration.")],
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Run until SIGINT/SIGTERM (graceful: flush, checkpoint, exit 0); SIGHUP reloads the config."""
    from edgewise.agent import ConfigError, run_agent

    handler = logging.StreamHandler()
    handler.setFormatter(_JsonLines())
    logging.basicConfig(level=log_level.upper(), handlers=[handler])
    try:
        code = run_agent(config)
    except ConfigError as error:
        _exit_with(error)
    raise typer.Exit(code)


@app.command("dead-letters")
def dead_letters(
    config: Annotated[Path, typer.Option("--config", help="The agent's YAML configuration.")],
) -> None:
    """Print the records the hub refused for good, one JSON object a line: record, reason, at."""
    from edgewise.agent import ConfigError, Outbox, load_config

    try:
        loaded = load_config(config)
    except ConfigError as error:
        _exit_with(error)
    path = Path(loaded.storage.dir) / "outbox.db"
    if not path.is_file():
        raise InputError(f"{path}: no outbox yet (the agent has not run with this storage.dir)")
    # SQLite's WAL lets this read while the agent runs.
    outbox = Outbox(path, max_bytes=int(loaded.storage.max_outbox_mb * 2**20))
    try:
        letters = outbox.dead_letters()
    finally:
        outbox.close()
    for letter in letters:
        typer.echo(json.dumps(letter, separators=(",", ":")))
    say(f"{len(letters)} dead letter(s) in {path}")

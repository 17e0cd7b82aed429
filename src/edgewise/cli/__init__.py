"""The ``edgewise`` command line: list steps, score CSV files, run benchmarks, watch a demo plant.

Errors are one line on stderr: exit code 2 for bad input (options, files, cells), 1 for anything
else; ``edgewise --debug ...`` shows the traceback of the latter (bad input stays one line).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from edgewise import __version__

from . import agent, bench, demo, detect, detectors, hub, models
from ._common import InputError, show_help_if_bare

__all__ = ["app", "main"]


class _Group(TyperGroup):
    """The root command: turns every error into one line on stderr and an exit code."""

    debug = False

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> NoReturn:
        del standalone_mode  # errors are always handled here, the same way
        self.debug = False
        try:
            code = super().main(
                args, prog_name or "edgewise", complete_var, False, windows_expand_args, **extra
            )
        except typer.Exit as done:
            code = done.exit_code
        except typer.TyperException as error:
            code = self._fail(error, error.format_message(), error.exit_code)
        except InputError as error:
            code = self._fail(error, str(error), 2)
        except (KeyboardInterrupt, typer.Abort) as error:
            code = self._fail(error, "interrupted", 130)
        except Exception as error:
            if self.debug:  # a traceback helps with a bug, not with a typo in a file or an option
                raise
            message = f"{type(error).__name__}: {error} (rerun with --debug for the traceback)"
            code = self._fail(error, message, 1)
        sys.exit(code if isinstance(code, int) else 0)

    def _fail(self, error: BaseException, message: str, code: int) -> int:
        ctx = getattr(error, "ctx", None)  # usage errors know the command they are about
        if ctx is not None:
            message = f"{message.rstrip('.')}; see '{ctx.command_path} --help'"
        typer.echo(f"edgewise: error: {' '.join(message.split())}", err=True)
        return code


app = typer.Typer(
    cls=_Group,
    name="edgewise",
    help="Machine learning for IoT at the edge: clean, fuse and score sensor streams.",
    invoke_without_command=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(show: bool) -> None:
    if show:
        typer.echo(f"edgewise {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            help="Show the traceback of an internal error (exit code 1). Bad input is still one "
            "line with exit code 2.",
        ),
    ] = False,
) -> None:
    del version
    root = ctx.find_root().command
    if isinstance(root, _Group):
        root.debug = debug
    show_help_if_bare(ctx)


app.command("detectors")(detectors.detectors)
app.command("detect")(detect.detect)
app.add_typer(bench.app, name="bench")
app.command("demo")(demo.demo)
app.add_typer(agent.app, name="agent")
app.add_typer(hub.app, name="hub")
app.command("train")(models.train)
app.command("compress")(models.compress)
app.add_typer(models.export_app, name="export")
app.add_typer(models.model_app, name="model")


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Run the command line (the ``edgewise`` console script)."""
    typer.main.get_command(app).main(args=argv, prog_name="edgewise")
    raise AssertionError("unreachable: the root command always exits")

"""``edgewise train``, ``edgewise compress`` and ``edgewise export c``: models from raw samples;
``edgewise model ...``: signed releases of them (``docs/releases.md``)."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from ._common import InputError, progress_bar, say

if TYPE_CHECKING:
    from edgewise.models import Recording
    from edgewise.releases import Repository

__all__ = ["compress", "export_app", "model_app", "train"]

T = TypeVar("T")

export_app = typer.Typer(help="Export a model file to source code.", no_args_is_help=True)

SourceArg = Annotated[
    Path | None,
    typer.Argument(help="CSV or Parquet of samples in time order, one row a sample."),
]
DatasetOption = Annotated[
    str | None, typer.Option(help="A built-in dataset instead of a file: cwru.")
]
DataOption = Annotated[
    Path | None, typer.Option("--data", help="Dataset folder. Default: from $EDGEWISE_DATA.")
]
RecordingOption = Annotated[str, typer.Option(help="Column naming the recording of a sample.")]
LabelOption = Annotated[str, typer.Option(help="Column holding the recording's class.")]
ValueOption = Annotated[str, typer.Option(help="Column holding the sample.")]
RateOption = Annotated[float, typer.Option(help="Samples per second of a file's recordings.")]


def _recordings(
    source: Path | None,
    *,
    dataset: str | None,
    data: Path | None,
    recording: str,
    label: str,
    value: str,
    sample_rate: float,
) -> tuple[list[Recording], str]:
    from edgewise._datadir import data_dir
    from edgewise.models import load_cwru, load_table

    if (source is None) == (dataset is None):
        raise InputError("give either a data file or --dataset")
    try:
        if dataset is not None:
            if dataset != "cwru":
                raise InputError(f"unknown dataset {dataset!r}; known: cwru")
            folder = (data or data_dir()) / "CWRU_bearing"
            return load_cwru(folder), "CWRU_bearing (drive end, 12 kHz, 0 HP)"
        assert source is not None
        return load_table(
            source, recording=recording, label=label, value=value, sample_rate=sample_rate
        ), str(source)
    except (FileNotFoundError, ValueError) as error:
        raise InputError(str(error)) from None


def _numbers(text: str, kind: type[int] | type[float], option: str) -> list[float]:
    try:
        return [kind(part) for part in text.split(",")]
    except ValueError:
        raise InputError(f"{option} takes comma-separated numbers, got {text!r}") from None


_NOISE = {"off": (False,), "on": (True,), "both": (False, True)}


def _bad_noise(value: str) -> tuple[bool, ...]:
    raise InputError(f"--noise takes off, on or both, got {value!r}")


def train(
    source: SourceArg = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="Model file to write.")] = Path(
        "model.ewm"
    ),
    dataset: DatasetOption = None,
    data: DataOption = None,
    recording: RecordingOption = "recording",
    label: LabelOption = "label",
    value: ValueOption = "value",
    sample_rate: RateOption = 12_000.0,
    window: Annotated[int, typer.Option(help="Samples a window (a power of two).")] = 512,
    stride: Annotated[int, typer.Option(min=1, help="Step between training windows.")] = 128,
    bands: Annotated[str, typer.Option(help="FFT band counts to try.")] = "16,32,64",
    hidden: Annotated[str, typer.Option(help="Hidden units to try.")] = "16,32,64",
    alpha: Annotated[str, typer.Option(help="L2 penalties to try.")] = "0.001",
    noise: Annotated[
        str,
        typer.Option(help="Train with noisy copies of the windows: off, on, or both (CV picks)."),
    ] = "both",
    folds: Annotated[int, typer.Option(min=2, help="Cross-validation folds.")] = 4,
    train_fraction: Annotated[float, typer.Option(help="Leading share of a recording.")] = 0.7,
    seed: Annotated[int, typer.Option(help="Seed of the MLP's initialisation.")] = 0,
) -> None:
    """Train a classifier from raw samples: FFT band energies and an MLP.

    Each recording's first TRAIN-FRACTION trains, the rest tests; the configuration is chosen
    by cross-validation over contiguous blocks of the training parts; test is scored once.
    """
    from edgewise.models import grid, train_classifier

    recordings, name = _recordings(
        source,
        dataset=dataset,
        data=data,
        recording=recording,
        label=label,
        value=value,
        sample_rate=sample_rate,
    )
    configs = grid(
        bands=[int(b) for b in _numbers(bands, int, "--bands")],
        hidden=[int(h) for h in _numbers(hidden, int, "--hidden")],
        alpha=_numbers(alpha, float, "--alpha"),
        noise=_NOISE.get(noise) or _bad_noise(noise),
    )
    with progress_bar() as bar:
        task = bar.add_task("cross-validation fits", total=len(configs) * folds)
        try:
            model, report, _ = train_classifier(
                recordings,
                configs=configs,
                window=window,
                stride=stride,
                folds=folds,
                train_fraction=train_fraction,
                seed=seed,
                source=name,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        except ValueError as error:
            raise InputError(str(error)) from None
    table = Table(
        title=f"Cross-validation on training data ({folds} contiguous folds)",
        caption="chosen: the best mean of the clean and 0 dB accuracies",
    )
    for column in ("bands", "hidden", "alpha", "noise", "CV accuracy", "CV at 0 dB SNR"):
        table.add_column(column, justify="right")
    for score in report.scores:
        c = score.config
        table.add_row(
            *(str(c.bands), str(c.hidden), f"{c.alpha:g}", "on" if c.noise else "off"),
            *(f"{score.clean:.4f}", f"{score.noisy:.4f}"),
            style="bold reverse" if score == report.best else None,
        )
    console = Console()
    console.print(table)
    console.print(
        f"{len(recordings)} recordings, {len(model.classes)} classes; "
        f"{report.train_windows} training windows, {report.test_windows} test windows; "
        f"test accuracy {report.test_accuracy:.4f} (scored once)"
    )
    model.save(output)
    say(f"wrote {output} ({model.artifact.size_bytes():,} bytes of tensors)")


def compress(
    model_path: Annotated[Path, typer.Argument(help="A float model file from edgewise train.")],
    source: SourceArg = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="int8 model file. Default: NAME-int8.ewm.")
    ] = None,
    dataset: DatasetOption = None,
    data: DataOption = None,
    recording: RecordingOption = "recording",
    label: LabelOption = "label",
    value: ValueOption = "value",
    sample_rate: RateOption = 12_000.0,
) -> None:
    """Quantize a model to int8 (calibrated on its training windows) and compare the variants:
    bytes of every tensor, test accuracy and latency of the numpy runtime."""
    from edgewise.models import ArtifactError, Model, held_out_windows, quantize_int8, train_folds

    try:
        model = Model.load(model_path)
    except ArtifactError as error:
        raise InputError(str(error)) from None
    if model.precision != "float32":
        raise InputError(f"{model_path} is already {model.precision}; compress its float model")
    recordings, _ = _recordings(
        source,
        dataset=dataset,
        data=data,
        recording=recording,
        label=label,
        value=value,
        sample_rate=sample_rate,
    )
    lineage = model.artifact.manifest["lineage"]
    fraction = float(lineage["split"]["train_fraction"])
    if sorted({r.label for r in recordings}) != model.classes:
        raise InputError("the data's classes differ from the model's")
    stride = int(lineage["stride"])
    train = train_folds(
        recordings,
        model.classes,
        train_fraction=fraction,
        folds=1,
        window=model.window,
        stride=stride,
    )
    test = held_out_windows(recordings, model.classes, train_fraction=fraction, window=model.window)
    small = quantize_int8(model, calibration=train[0].x)
    table = Table(title="Variants on the held-out windows (numpy runtime, one thread)")
    for column in ("variant", "bytes", "accuracy", "ms / window"):
        table.add_column(column, justify="right")
    for variant in (model, small):
        started = time.perf_counter()
        predicted = variant.predict(test.x)
        elapsed = (time.perf_counter() - started) / len(test.x) * 1e3
        accuracy = float(np.mean(predicted == test.y))
        table.add_row(
            variant.precision,
            f"{variant.artifact.size_bytes():,}",
            f"{accuracy:.4f}",
            f"{elapsed:.3f}",
        )
    Console().print(table)
    target = output or model_path.with_name(f"{model_path.stem}-int8.ewm")
    small.save(target)
    say(f"wrote {target}")


@export_app.command("c")
def export_c(
    model_path: Annotated[Path, typer.Argument(help="A model file (float or int8).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder to write into.")],
    harness: Annotated[
        bool, typer.Option(help="Also write ew_main.c: windows on stdin, classes on stdout.")
    ] = False,
) -> None:
    """C99 for the whole path from raw samples to a class: no dynamic allocation."""
    from edgewise.models import ArtifactError, Model
    from edgewise.models import export_c as write_c

    try:
        model = Model.load(model_path)
    except ArtifactError as error:
        raise InputError(str(error)) from None
    for path in write_c(model, output, harness=harness):
        say(f"wrote {path}")


model_app = typer.Typer(
    help="Signed model releases: keys, publishing, assignments (docs/releases.md).",
    no_args_is_help=True,
)
keys_app = typer.Typer(help="The repository's signing keys.", no_args_is_help=True)
model_app.add_typer(keys_app, name="keys")

RepoOption = Annotated[
    Path, typer.Option("--repo", help="The model repository's folder (served by the hub).")
]
OfflineOption = Annotated[
    Path,
    typer.Option(
        "--offline-keys",
        help="Folder of the offline root and targets keys (removable media, kept off the hub).",
    ),
]
CountOption = Annotated[int, typer.Option(min=1, max=16)]


def _release(action: Callable[[], T]) -> T:
    from edgewise.releases import ReleaseError

    try:
        return action()
    except ReleaseError as error:
        raise InputError(str(error)) from None


def _repository(repo: Path) -> Repository:
    from edgewise.releases import Repository

    return _release(lambda: Repository(repo))


@keys_app.command("init")
def keys_init(
    repo: RepoOption,
    offline_keys: OfflineOption,
    online_keys: Annotated[
        Path | None,
        typer.Option(
            help="Folder of the online keys the hub signs with. Default: REPO/online-keys."
        ),
    ] = None,
    root_keys: CountOption = 1,
    root_threshold: CountOption = 1,
    targets_keys: CountOption = 1,
    targets_threshold: CountOption = 1,
) -> None:
    """Make a new repository and its keys: root and targets offline, the rest online.

    Give the agents REPO/metadata/1.root.json when they are set up: it is what they trust.
    """
    from edgewise.releases import Repository

    made = _release(
        lambda: Repository.create(
            repo,
            offline_keys=offline_keys,
            online_keys=online_keys,
            root_keys=root_keys,
            root_threshold=root_threshold,
            targets_keys=targets_keys,
            targets_threshold=targets_threshold,
        )
    )
    say(f"wrote {made.metadata} (the agents' trust anchor: {made.metadata / '1.root.json'})")
    say(f"offline keys in {offline_keys}: move them off this machine once you are done")
    say(f"online keys in {made.online_keys}")


@keys_app.command("rotate")
def keys_rotate(
    role: Annotated[str, typer.Argument(help="root, targets, snapshot, timestamp or assignments.")],
    repo: RepoOption,
    offline_keys: OfflineOption,
) -> None:
    """Replace a role's keys; the new root that says so is signed by the old root keys."""
    repository = _repository(repo)
    _release(lambda: repository.rotate(role, offline_keys=offline_keys))
    say(f"rotated the {role} keys; versions now {repository.versions()}")


@model_app.command("publish")
def publish(
    artifact: Annotated[Path, typer.Argument(help="A model file (.ewm) to release.")],
    repo: RepoOption,
    offline_keys: OfflineOption,
    name: Annotated[
        str | None, typer.Option(help="Image name (NAME.ewm). Default: the file's name.")
    ] = None,
) -> None:
    """Self-test a model and sign it into the repository's targets with the offline keys."""
    repository = _repository(repo)
    path = _release(lambda: repository.publish(artifact, offline_keys=offline_keys, name=name))
    say(f"published {path}")


@model_app.command("assign")
def assign(
    device: Annotated[str, typer.Argument(help="The device that should run the image.")],
    image: Annotated[str, typer.Argument(help="A published image: models/NAME.ewm.")],
    repo: RepoOption,
) -> None:
    """Point a device at a published image (signed with the online assignment key)."""
    repository = _repository(repo)
    made = _release(lambda: repository.assign(device, image))
    say(f"{made.device} -> {made.image} (serial {made.serial})")


@model_app.command("refresh")
def refresh(repo: RepoOption) -> None:
    """Re-sign the online metadata with new expiry dates (run it at least daily)."""
    repository = _repository(repo)
    _release(repository.refresh)
    say(f"refreshed; versions now {repository.versions()}")


@model_app.command("status")
def status(repo: RepoOption) -> None:
    """Each role's version and expiry, the published images and the devices' assignments."""
    from edgewise.releases import ROLES

    repository = _repository(repo)
    roles = Table(title=f"{repo}")
    for column in ("role", "version", "expires (UTC)"):
        roles.add_column(column)
    for role in ROLES:
        signed = _release(functools.partial(repository.load, role)).signed
        roles.add_row(role, str(signed.version), signed.expires.strftime("%Y-%m-%d %H:%M"))
    assignments = Table(title="assignments")
    for column in ("device", "image", "serial"):
        assignments.add_column(column)
    for device, made in sorted(repository.assignments().items()):
        assignments.add_row(device, made.image, str(made.serial))
    console = Console()
    console.print(roles)
    console.print("images: " + (", ".join(repository.images()) or "none"))
    console.print(assignments)

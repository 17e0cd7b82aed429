"""``edgewise bench``: NAB, throughput, the default detector's kernels, quality, stationary
signals, TEP, C-MAPSS, suppression, the agent's speed, latency and durability, alert triage, the
hub's scale-out, the model toolchain."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from edgewise.bench._meta import run_metadata

from ._common import (
    DEFAULT_DETECTOR,
    InputError,
    make_detector,
    progress_bar,
    show_help_if_bare,
    write_json,
)

__all__ = ["app", "published_scoreboard"]

app = typer.Typer(
    help="Run a benchmark and compare with published results.", invoke_without_command=True
)

# NAB's published scoreboard (its README): name shown -> key in results/final_results.json.
_SCOREBOARD = {
    "ARTime": "ARTime",
    "Numenta HTM": "numenta",
    "CAD OSE": "contextOSE",
    "earthgecko Skyline": "earthgeckoSkyline",
    "KNN CAD": "knncad",
    "Relative Entropy": "relativeEntropy",
    "Random Cut Forest": "randomCutForest",
    "Twitter ADVec": "twitterADVec",
    "Windowed Gaussian": "windowedGaussian",
    "Etsy Skyline": "skyline",
    "Bayesian Changepoint": "bayesChangePt",
    "EXPoSE": "expose",
    "null": "null",
}
# On NAB's README scoreboard but missing from its results/final_results.json.
_ONLY_IN_README = {
    "bayesChangePt": {"standard": 17.71, "reward_low_FP_rate": 3.21, "reward_low_FN_rate": 32.26}
}

DataOption = Annotated[
    Path | None, typer.Option("--data", help="Dataset folder. Default: from $EDGEWISE_DATA.")
]
JsonOption = Annotated[
    Path | None, typer.Option("--json", help="Also write the result, with run metadata, as JSON.")
]
DetectorOption = Annotated[
    str, typer.Option(help="Registered detector (see `edgewise detectors`).")
]
ParamOption = Annotated[
    list[str] | None, typer.Option(help="Detector parameter KEY=VALUE; repeat for several.")
]


@app.callback()
def _bench(ctx: typer.Context) -> None:
    show_help_if_bare(ctx)


def published_scoreboard(nab: Path) -> dict[str, dict[str, float]]:
    """NAB's published normalised scores by detector, from ``nab/results/final_results.json``."""
    published: dict[str, Any] = json.loads(
        (nab / "results" / "final_results.json").read_text(encoding="utf-8")
    )
    published = {**_ONLY_IN_README, **published}
    return {
        shown: {profile: float(score) for profile, score in published[key].items()}
        for shown, key in _SCOREBOARD.items()
        if key in published
    }


@contextmanager
def _running(label: str) -> Iterator[Callable[[int, int], None]]:
    """A ``progress(done, total)`` callback drawing a bar while the benchmark runs.

    A missing dataset is bad input (exit code 2), not a crash.
    """
    with progress_bar() as bar:
        task = bar.add_task(label, total=None)

        def report(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        try:
            yield report
        except FileNotFoundError as error:
            raise InputError(str(error)) from None


def _flat(result: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in result.items():
        if isinstance(value, Mapping):
            yield from _flat(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1e4 else f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(map(_shown, value)) if len(value) <= 8 else f"{len(value)} values"
    return str(value)


def _print_result(title: str, result: Mapping[str, Any]) -> None:
    table = Table(title=title)
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in _flat(result):
        table.add_row(key, _shown(value))
    Console().print(table)


def _save(path: Path | None, result: Mapping[str, Any]) -> None:
    if path is not None:
        write_json(path, {**result, **run_metadata()})


_SHORT = {"standard": "standard", "reward_low_FP_rate": "low FP", "reward_low_FN_rate": "low FN"}


def _scoreboard(ours: str, result: Mapping[str, Any], published: Mapping[str, Any]) -> Table:
    table = Table(title="NAB scoreboard (normalised score; published results beside ours)")
    table.add_column("#", justify="right")
    table.add_column("detector")
    for profile in _SHORT.values():
        table.add_column(profile, justify="right")
    rows = {**published, ours: result["scores"]}
    ranked = sorted(rows.items(), key=lambda item: -float(item[1]["standard"]))
    for rank, (name, scores) in enumerate(ranked, start=1):
        table.add_row(
            str(rank),
            name,
            *(f"{float(scores[p]):.2f}" for p in _SHORT),
            style="bold reverse" if name == ours else None,
        )
    return table


# The detector's own decisions scored beside its scores: its alarms, and its abnormal rows.
_OWN = {"scores_own_threshold": "alarms", "scores_is_anomaly": "rows"}


def _details(ours: str, result: Mapping[str, Any]) -> Table:
    """Our scores at the best threshold and at the detector's own decisions, whole and halves."""
    table = Table(
        title=f"{ours}: scores at the best threshold (best), its own alarms, its abnormal rows",
        caption="A, B: the halves of a fixed split of the corpus (tune on one, check on the other)",
    )
    parts = {"": result, **{f"{half} ": r for half, r in result.get("halves", {}).items()}}
    own = [key for key in _OWN if key in result]
    table.add_column("profile")
    table.add_column("threshold", justify="right")
    for part in parts:
        table.add_column(f"{part}best", justify="right")
        for key in own:
            table.add_column(f"{part}{_OWN[key]}", justify="right")
    for profile, short in _SHORT.items():
        cells = [short, f"{result['thresholds'][profile]:.4f}"]
        for part in parts.values():
            cells.append(f"{part['scores'][profile]:.2f}")
            cells += [f"{part[key][profile]:.2f}" for key in own]
        table.add_row(*cells)
    return table


@app.command()
def nab(
    data: Annotated[
        Path | None,
        typer.Option(
            help="The NAB folder (data/, labels/, config/, results/) or a datasets folder "
            "holding NAB/. Default: NAB/ in the datasets folder ($EDGEWISE_DATA)."
        ),
    ] = None,
    detector: DetectorOption = DEFAULT_DETECTOR,
    param: ParamOption = None,
    json_out: JsonOption = None,
    results_dir: Annotated[
        Path | None,
        typer.Option(help="Also write the anomaly scores there, in NAB's results layout."),
    ] = None,
) -> None:
    """Score a detector on the Numenta Anomaly Benchmark, beside NAB's published scoreboard.

    Each of the 58 series streams through a fresh detector; the scores are scored under NAB's
    three cost profiles at the threshold best over the corpus, at the detector's own decisions,
    and on each half of a fixed split (tune on one half, check on the other).
    """
    from edgewise.bench.nab import nab_dir, run_nab

    _, params = make_detector(detector, param or [])
    with _running("NAB files") as progress:
        folder = nab_dir(data)
        result = run_nab(
            detector=detector, params=params, data=data, results_dir=results_dir, progress=progress
        )
    ours = f"edgewise {detector}"
    console = Console()
    console.print(_scoreboard(ours, result, published_scoreboard(folder)))
    console.print(_details(ours, result))
    _save(json_out, result)


@app.command()
def throughput(json_out: JsonOption = None, data: DataOption = None) -> None:
    """Readings per second of the default detector, beside River's HalfSpaceTrees."""
    from edgewise.bench.throughput import run_throughput

    with _running("throughput") as progress:
        result = run_throughput(data=data, progress=progress)
    _print_result("Throughput (one process, single thread)", result)
    _save(json_out, result)


@app.command()
def kernels(
    json_out: JsonOption = None,
    data: DataOption = None,
    repeats: Annotated[int, typer.Option(min=1, help="Timed runs; speeds are their medians.")] = 5,
) -> None:
    """The default detector's C and numba kernels: the same outputs on all of NAB, and speed."""
    from edgewise.bench.kernels import run_kernels

    with _running("NAB files through both kernels") as progress:
        result = run_kernels(data=data, repeats=repeats, progress=progress)
    _print_result("Default detector: C kernel against numba kernel", result)
    _save(json_out, result)


@app.command()
def quality(
    data: DataOption = None,
    json_out: JsonOption = None,
    seed: Annotated[int, typer.Option(help="Seed of the masks and injected faults.")] = 0,
) -> None:
    """Cleaning and imputation quality on real datasets with known, injected faults."""
    from edgewise.bench.quality import run_quality

    with _running("quality"):  # no progress reports: the bar just shows it is working
        result = run_quality(data=data, seed=seed)
    _print_result("Cleaning and imputation quality", result)
    _save(json_out, result)


@app.command()
def stationary(
    detector: DetectorOption = DEFAULT_DETECTOR,
    param: ParamOption = None,
    seeds: Annotated[int, typer.Option(min=1, help="Series per signal.")] = 5,
    json_out: JsonOption = None,
) -> None:
    """False alarms per 10,000 readings on white noise, a noisy sine and an AR(1) process."""
    from edgewise.bench.stationary import run_stationary

    _, params = make_detector(detector, param or [])
    with _running("stationary signals") as progress:
        result = run_stationary(detector=detector, params=params, seeds=seeds, progress=progress)
    _print_result("False alarms on stationary signals (counted from reading 1,000)", result)
    _save(json_out, result)


def _tep_table(result: Mapping[str, Any]) -> Table:
    table = Table(
        title="Tennessee Eastman: detection rate (samples 161-960) and false alarms (1-160)",
        caption="PCA: 90% of the variance, 99% limits, fitted on d00 like ours",
    )
    for column in ("fault", "ours", "false alarms", "delay", "PCA T²", "PCA SPE"):
        table.add_column(column, justify="right")
    for fault, ours in result["tep_per_fault"].items():
        delay = ours["first_detection_delay"]
        table.add_row(
            fault,
            f"{ours['detection_rate']:.3f}",
            f"{ours['false_alarm_rate']:.3f}",
            "-" if delay is None else str(delay),
            f"{result['pca_t2_per_fault'][fault]['detection_rate']:.3f}",
            f"{result['pca_spe_per_fault'][fault]['detection_rate']:.3f}",
        )
    return table


@app.command()
def tep(data: DataOption = None, json_out: JsonOption = None) -> None:
    """Tennessee Eastman: the default pipeline on 52 inputs beside plain PCA (T², SPE).

    The default pipeline, commissioned on d00.dat as its reference, scores a fresh copy of each
    test run reading by reading: detection rate,
    false-alarm rate and first detection delay per fault; the mean over the faults other than
    3, 9 and 15; the pooled false-alarm rate; readings per second.
    """
    from edgewise.bench.tep import run_tep

    with _running("TEP runs") as progress:
        result = run_tep(data=data, progress=progress)
    Console().print(_tep_table(result))
    summary = {k: v for k, v in result.items() if not isinstance(v, Mapping) and k != "faults"}
    _print_result("Tennessee Eastman: summary", summary)
    _save(json_out, result)


@app.command()
def degradation(data: DataOption = None, json_out: JsonOption = None) -> None:
    """C-MAPSS FD001: alarm lead times of the default detector beside a per-sensor z-score.

    Each engine's first 30 cycles are its known-normal reference; the first alarm after them is
    timed against the engine's last cycle, and counted as early in the first half of its life.
    """
    from edgewise.bench.degradation import run_degradation

    with _running("C-MAPSS engines") as progress:
        result = run_degradation(data=data, progress=progress)
    summary = {k: v for k, v in result.items() if not isinstance(v, Mapping)}
    _print_result("C-MAPSS FD001: slow degradation (tuning half, held-out half, all)", summary)
    _save(json_out, result)


@app.command()
def agent(
    json_out: JsonOption = None,
    runs: Annotated[int, typer.Option(min=1, help="Runs; the figures are their medians.")] = 3,
) -> None:
    """The agent's speed over MQTT (QoS 1, durable outbox) beside its pipeline, memory, start-up.

    The agent is pinned to one core, the broker and publisher to the other; each run measures the
    pipeline on Reading objects, one reading per message and 100 per SenML message, in turn.
    """
    from edgewise.bench.agent_speed import run_agent_speed

    with _running("agent runs") as progress:
        result = run_agent_speed(runs=runs, progress=progress)
    _print_result("The agent (one core)", {k: v for k, v in result.items() if k != "runs"})
    _save(json_out, result)


@app.command()
def latency(
    json_out: JsonOption = None,
    runs: Annotated[
        int, typer.Option(min=1, help="Runs (about 10 minutes each); latencies are medians.")
    ] = 1,
) -> None:
    """From a reading's publish to its alarm's MQTT command: 10,000 alarms over 1,000 streams.

    The agent is pinned to one core, as in the field (QoS 1, durable outbox, an MQTT command
    action); the publisher (1,000 readings/s), the command subscriber and the broker share the
    other. Every spike must start a new episode and produce exactly one command.
    """
    from edgewise.bench.agent_latency import run_agent_latency

    with _running("latency runs") as progress:
        result = run_agent_latency(runs=runs, progress=progress)
    _print_result(
        "Publish to command (agent on one core)", {k: v for k, v in result.items() if k != "runs"}
    )
    _save(json_out, result)


@app.command()
def models(data: DataOption = None, json_out: JsonOption = None) -> None:
    """CWRU bearing, 10 classes from raw samples: float and int8 accuracy, 0 dB noise, size ratio,
    and the exported C compared with the numpy runtime (int8 bit-exact)."""
    from edgewise.bench.models import run_models

    with _running("cross-validation fits") as progress:
        result = run_models(data=data, progress=progress)
    _print_result(
        "CWRU bearing: models from raw samples",
        {k: v for k, v in result.items() if k != "cv_scores"},
    )
    _save(json_out, result)


@app.command()
def faults(
    json_out: JsonOption = None,
    iterations: Annotated[int, typer.Option(min=1, help="Faults to inject, one at a time.")] = 100,
    seed: Annotated[int, typer.Option(help="Seed of the faults' kinds, moments, lengths.")] = 0,
) -> None:
    """Durability: kill the agent and the hub, lose answers, fill the disk, break the network;
    every reading the broker acknowledged must reach the hub exactly once."""
    from edgewise.bench.faults import run_faults

    with _running("faults") as progress:
        result = run_faults(iterations=iterations, seed=seed, progress=progress)
    _print_result("Durability under faults", result)
    _save(json_out, result)


@app.command()
def suppression(
    data: DataOption = None,
    bound: Annotated[
        float, typer.Option(help="Largest error the hub may make on temperature (degrees C).")
    ] = 0.5,
    json_out: JsonOption = None,
) -> None:
    """Intel Lab motes: messages and radio energy saved by dual-prediction suppression.

    The predictor is chosen on intelTemperatureTrain.csv and scored once on
    intelTemperatureTest.csv, beside hold-last and linear extrapolation; then the gateway
    variant (the 50 motes as values of one stream) and the humidity files (bound 1 %RH).
    """
    from edgewise.bench.suppression import run_suppression

    if not bound > 0:
        raise InputError(f"--bound must be positive, got {bound}")
    with _running("suppression configurations") as progress:
        result = run_suppression(data=data, bound=bound, progress=progress)
    summary = {  # the train scores of every configuration are in the JSON and docs/tuning.md
        k: {kk: vv for kk, vv in v.items() if kk != "train_scores"} if isinstance(v, Mapping) else v
        for k, v in result.items()
        if k not in ("train_scores", "radio")
    }
    _print_result("Transmission suppression by dual prediction (Intel Lab test files)", summary)
    _save(json_out, result)


def _triage_table(result: Mapping[str, Any]) -> Table:
    table = Table(
        title="Automatic triage over simulated fleet months, per seed and over all",
        caption="all: the alerts of every seed, the worst of each other measure; handled: "
        "escalated, or closed as a nuisance; baseline: the oracle severity rule",
    )
    for column in (
        "seed",
        "alerts",
        "handled %",
        "missed",
        "false esc.",
        "false esc. %",
        "baseline %",
    ):
        table.add_column(column, justify="right")
    rows = [*result["per_seed"].values(), {**result, "seed": "all"}]
    for row in rows:
        table.add_row(
            str(row["seed"]),
            f"{row['alerts']:,}",
            f"{row['auto_handled_pct']:.1f}",
            str(row["missed_incidents"]),
            str(row["false_escalations"]),
            f"{row['false_escalations_pct']:.2f}",
            f"{row['baseline_auto_handled_pct']:.1f}",
        )
    return table


@app.command()
def triage(
    seed: Annotated[
        int, typer.Option(help="Seed of the simulated month (the first of --seeds).")
    ] = 0,
    seeds: Annotated[
        int,
        typer.Option(min=1, help="Months to replay, seeds S, S+1, ...; top keys are the worst."),
    ] = 1,
    devices: Annotated[int, typer.Option(min=1, help="Devices in the fleet.")] = 50,
    sites: Annotated[int, typer.Option(min=1, help="Sites the devices are spread over.")] = 5,
    json_out: JsonOption = None,
) -> None:
    """Automatic alert triage over a simulated fleet month, beside a severity-threshold rule.

    Counts alerts after de-duplication: the share triage handles (escalated, or closed as a
    nuisance), incidents it missed (every alert closed), false escalations, and the oracle
    baseline (close below a, escalate above b, chosen on the run's own truth).
    """
    from edgewise.bench.triage import run_triage_seeds

    if sites > devices:
        raise InputError(f"--sites ({sites}) must not exceed --devices ({devices})")
    with _running("fleet months"):
        result = run_triage_seeds(seeds=range(seed, seed + seeds), n_devices=devices, sites=sites)
    Console().print(_triage_table(result))
    _save(json_out, result)


@app.command()
def scaleout(
    json_out: JsonOption = None,
    readings: Annotated[int, typer.Option(min=100, help="Readings the devices publish.")] = 20_000,
    devices: Annotated[int, typer.Option(min=1, help="Devices publishing, one topic each.")] = 10,
    rate: Annotated[
        float, typer.Option(min=0.0, help="Readings a second offered; 0 for as fast as they go.")
    ] = 0.0,
    db: Annotated[
        str,
        typer.Option(
            "--db",
            envvar="EDGEWISE_TEST_PG",
            help="PostgreSQL database in which the run makes, then drops, a schema of its own.",
        ),
    ] = "postgresql://postgres@127.0.0.1:5432/test",
) -> None:
    """MQTT devices through the bridge and NATS JetStream to two hub workers on PostgreSQL;
    one worker is killed with SIGKILL mid-stream, and every reading must be stored once.

    Starts its own nats-server and Mosquitto with the published test configurations.
    """
    import psycopg

    from edgewise.bench.scaleout import run_scaleout

    if readings < devices:
        raise InputError(f"--readings {readings} is fewer than --devices {devices}")
    with _running("readings stored") as progress:
        try:
            result = run_scaleout(
                readings=readings, devices=devices, rate=rate, pg_url=db, progress=progress
            )
        except psycopg.OperationalError as error:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise InputError(f"--db: PostgreSQL does not answer: {reason}") from None
    _print_result("Scale-out: two JetStream workers, one killed", result)
    _save(json_out, result)


@app.command()
def hub(
    json_out: JsonOption = None,
    runs: Annotated[int, typer.Option(min=1, help="Ingestion runs per database (median).")] = 3,
    detections: Annotated[
        bool, typer.Option(help="Send one detection with each reading, as a default pipeline does.")
    ] = False,
    chart_readings: Annotated[
        int, typer.Option(min=1000, help="Readings stored before the chart query's load.")
    ] = 1_000_000,
    db: Annotated[
        str,
        typer.Option(
            "--db",
            envvar="EDGEWISE_TEST_PG",
            help="PostgreSQL server on which the run makes, then drops, a database of its own.",
        ),
    ] = "postgresql://postgres@127.0.0.1:5432/test",
) -> None:
    """The hub's ingestion over HTTP from 50 devices (batches of 500 readings), on SQLite and
    PostgreSQL, one worker; then the device page's chart query under wrk at 50 requests/s."""
    from edgewise.bench.hub import run_hub_bench

    result = run_hub_bench(
        pg_url=db, runs=runs, detections=detections, chart_readings=chart_readings, progress=print
    )
    _print_result("Hub: ingestion and the chart query", result)
    _save(json_out, result)

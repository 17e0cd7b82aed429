"""Transmission suppression by dual prediction on Intel Lab motes: messages and radio energy saved.

``IntelLab_preprocessed/intel<Quantity>{Train,Test}.csv``: 50 motes x 144 (train) and 96 (test)
steps of 30 minutes, one row per mote, no header. Each mote is one stream: a
:class:`~edgewise.agent.Suppressor` on the agent, a :class:`~edgewise.agent.Reconstructor` on
the hub that sees only the messages. Every configuration of :data:`CANDIDATES` is scored on the
train file; the one saving the most messages is then scored once on the test file, beside the
hold-last and linear-extrapolation baselines, and the "gateway" variant (the 50 motes as values
of one stream, so a value's prediction borrows the surprise of the motes decided before it, or
a shift common to the step). Messages count the first reading and heartbeats (one after
:data:`HEARTBEAT_S` of quiet). Behind a gateway a message is counted as one number on air: a
mote's reading, a shift, or a heartbeat (``mote_messages_saved_pct``); the gateway's packets,
each bundling the numbers of one step, are ``messages``.

The radio energy model (:data:`RADIO`) is the TI CC2420 (IEEE 802.15.4, 2.4 GHz) datasheet: TX
17.4 mA at 0 dBm, RX 18.8 mA, 250 kbit/s, supply 3.0 V (1.8-3.6 V). A message costs its frame
on air (preamble 4 + SFD 1 + length 1 + MAC header 9 + FCS 2 bytes, plus its payload: kind 1,
seq 4, timestamp 4, and 1 + 4 bytes (id, float32) per value), then 12 symbols (192 us) of
turnaround and the 11-byte acknowledgement, received. Idle listening and sleep are left out:
they do not depend on what is sent.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._datadir import data_dir
from ..agent import DualPredictor, Reconstructor, Suppressor

__all__ = ["CANDIDATES", "HEARTBEAT_S", "RADIO", "STEP_S", "message_energy_uj", "run_suppression"]

STEP_S = 1800.0
"""The sampling period of the Intel Lab files (30 minutes)."""
HEARTBEAT_S = 6 * 3600.0
"""Heartbeat after six hours of quiet: a dead mote is noticed within about six hours."""
FOLDER = "IntelLab_preprocessed"

RADIO: dict[str, Any] = {
    "radio": "TI CC2420 (IEEE 802.15.4), datasheet SWRS041",
    "tx_current_ma": 17.4,
    "rx_current_ma": 18.8,
    "supply_v": 3.0,
    "bit_rate_bps": 250_000,
    "frame_overhead_bytes": 17,
    "payload_header_bytes": 9,
    "bytes_per_value": 5,
    "turnaround_s": 192e-6,
    "ack_bytes": 11,
}
"""Per-message radio energy model (see the module docstring)."""

CANDIDATES: dict[str, dict[str, float]] = {
    "hold-last": {"trend": 0.0},
    "linear extrapolation (last two sent)": {"trend": 1.0, "damping": 1.0},
    **{
        f"blend trend={w} damping={phi}": {"trend": w, "damping": phi}
        for phi in (0.8, 0.9, 1.0)
        for w in (0.3, 0.5, 0.7)
    },
}
"""Per-stream predictor configurations tried on the train file (DualPredictor parameters)."""
GATEWAY: dict[str, dict[str, float]] = {
    **{
        f"gateway trend={w} shared={k}": {"trend": w, "shared": k}
        for w in (0.0, 0.3)
        for k in (0.5, 1.0)
    },
    **{
        f"gateway trend={w} shared={k} shift": {"trend": w, "shared": k, "shift": True}
        for w in (0.0, 0.3)
        for k in (0.0, 0.5, 1.0)
    },
}
"""Configurations of the gateway variant (50 motes as the values of one stream): DualPredictor
parameters, and ``shift`` for the Suppressor."""

# The second real set: Intel Lab humidity (%RH), bound 1 %RH, well inside the SHT11's +-3.5 %RH.
OTHER = ("intelHumidity", 1.0)

Progress = Callable[[int, int], None]


def message_energy_uj(values: int) -> float:
    """Radio energy of one message carrying ``values`` values (0: a heartbeat), in microjoules.

    >>> round(message_energy_uj(1), 1), round(message_energy_uj(0), 1)
    (82.5, 74.1)
    """
    r = RADIO
    byte_s = 8.0 / r["bit_rate_bps"]
    frame = r["frame_overhead_bytes"] + r["payload_header_bytes"] + r["bytes_per_value"] * values
    tx = r["tx_current_ma"] * frame * byte_s
    rx = r["rx_current_ma"] * (r["turnaround_s"] + r["ack_bytes"] * byte_s)
    return float(r["supply_v"] * (tx + rx) * 1e3)  # mA * s * V = mJ


def _load(data: Path | None, name: str) -> NDArray[np.float64]:
    path = (data if data is not None else data_dir()) / FOLDER / f"{name}.csv"
    if not path.is_file():
        raise FileNotFoundError(f"dataset file not found: {path}")
    table: NDArray[np.float64] = np.loadtxt(path, delimiter=",", ndmin=2)
    if not np.isfinite(table).all():
        raise ValueError(f"{path}: missing or non-numeric values")
    return table


def _transmit(
    streams: list[list[dict[str, float]]], bound: float, config: Mapping[str, float]
) -> dict[str, Any]:
    """Run each stream through agent and hub; count messages and measure the hub's error."""
    readings = values = shifts = heartbeats = 0
    energy = baseline = 0.0
    errors: list[float] = []
    params = dict(config)
    shift = bool(params.pop("shift", False))
    for stream in streams:
        predictor = DualPredictor(**params)
        agent = Suppressor(bound=bound, predictor=predictor, heartbeat_s=HEARTBEAT_S, shift=shift)
        hub = Reconstructor(predictor=predictor, heartbeat_s=HEARTBEAT_S)
        rebuilt = []
        for seq, reading in enumerate(stream):
            baseline += message_energy_uj(len(reading))
            message = agent.update(seq, STEP_S * seq, reading)
            if message is None:
                continue
            rebuilt += hub.update(message)
            sent = len(message.get("values", {}))
            shifted = "shift" in message  # one more number on air
            readings += message["kind"] == "reading"
            heartbeats += message["kind"] == "heartbeat"
            values += sent
            shifts += shifted
            energy += message_energy_uj(sent + shifted)
        last = agent.heartbeat()  # the end of the file: the hub learns where the stream stands
        if last is not None:
            rebuilt += hub.update(last)
        for (_, _, got), truth in zip(rebuilt, stream, strict=True):
            errors += [got[name] - value for name, value in truth.items()]
    n_readings = sum(len(s) for s in streams)
    n_values = sum(len(r) for s in streams for r in s)
    err = np.abs(np.asarray(errors))
    return {
        "messages_saved_pct": 100.0 * (1.0 - (readings + heartbeats) / n_readings),
        "readings_saved_pct": 100.0 * (1.0 - readings / n_readings),
        "values_saved_pct": 100.0 * (1.0 - (values + shifts) / n_values),
        "mote_messages_saved_pct": 100.0 * (1.0 - (values + shifts + heartbeats) / n_values),
        "messages": readings + heartbeats,
        "heartbeats": heartbeats,
        "shifts": shifts,
        "max_abs_error": float(err.max()),
        "rmse": float(math.sqrt(float(np.mean(err**2)))),
        "radio_energy_saved_pct": 100.0 * (1.0 - energy / baseline),
        "radio_energy_uj": energy,
        "radio_energy_unsuppressed_uj": baseline,
    }


def _per_mote(table: NDArray[np.float64]) -> list[list[dict[str, float]]]:
    return [[{"value": float(x)} for x in row] for row in table]


def _gateway(table: NDArray[np.float64]) -> list[list[dict[str, float]]]:
    return [[{f"mote{m:02d}": float(x) for m, x in enumerate(column)} for column in table.T]]


def _choose(
    table: NDArray[np.float64],
    bound: float,
    candidates: Mapping[str, Mapping[str, float]],
    shape: Callable[[NDArray[np.float64]], list[list[dict[str, float]]]],
    key: str,
    tick: Callable[[], None],
) -> tuple[str, dict[str, float]]:
    """Every candidate's train score; the best one's name first."""
    scores = {}
    for name, params in candidates.items():
        scores[name] = _transmit(shape(table), bound, params)[key]
        tick()
    best = max(scores, key=lambda name: scores[name])
    return best, scores


def run_suppression(
    data: Path | None = None, *, bound: float = 0.5, progress: Progress | None = None
) -> dict[str, Any]:
    """Choose a predictor on the train file, score it once on the test file; a second set too.

    Returns ``messages_saved_pct``, ``max_abs_error``, ``rmse``, ``radio_energy_saved_pct`` (and
    the counts behind them) of the chosen predictor on ``intelTemperatureTest.csv``, with
    ``chosen``, ``train_scores``, ``baselines``, ``gateway``, ``other`` (humidity), ``radio``.
    """
    if not (math.isfinite(bound) and bound > 0):
        raise ValueError(f"bound must be a positive number, got {bound!r}")
    train, test = _load(data, "intelTemperatureTrain"), _load(data, "intelTemperatureTest")
    other_train, other_test = _load(data, f"{OTHER[0]}Train"), _load(data, f"{OTHER[0]}Test")
    total = 2 * len(CANDIDATES) + len(GATEWAY)
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    best, scores = _choose(train, bound, CANDIDATES, _per_mote, "messages_saved_pct", tick)
    result = {"dataset": f"{FOLDER}/intelTemperatureTest.csv", "bound": bound, "chosen": best}
    result.update(_transmit(_per_mote(test), bound, CANDIDATES[best]))
    result["predictor"] = dict(CANDIDATES[best])
    result["train_scores"] = scores
    result["baselines"] = {
        name: _transmit(_per_mote(test), bound, CANDIDATES[name])
        for name in ("hold-last", "linear extrapolation (last two sent)")
    }
    gate, gate_scores = _choose(train, bound, GATEWAY, _gateway, "mote_messages_saved_pct", tick)
    result["gateway"] = {
        "chosen": gate,
        "predictor": dict(GATEWAY[gate]),
        **_transmit(_gateway(test), bound, GATEWAY[gate]),
        "train_scores": gate_scores,
    }
    name, other_bound = OTHER
    pick, other_scores = _choose(
        other_train, other_bound, CANDIDATES, _per_mote, "messages_saved_pct", tick
    )
    result["other"] = {
        "dataset": f"{FOLDER}/{name}Test.csv",
        "bound": other_bound,
        "chosen": pick,
        **_transmit(_per_mote(other_test), other_bound, CANDIDATES[pick]),
        "train_scores": other_scores,
        "hold_last": _transmit(_per_mote(other_test), other_bound, CANDIDATES["hold-last"]),
    }
    result["radio"] = {
        **RADIO,
        "reading_message_uj_1_value": message_energy_uj(1),
        "heartbeat_message_uj": message_energy_uj(0),
    }
    result["heartbeat_s"] = HEARTBEAT_S
    return result

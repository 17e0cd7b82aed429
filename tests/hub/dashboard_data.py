"""Records that look like a real machine's, for the dashboard's tests and screenshots."""

from __future__ import annotations

import math
from typing import Any


def machine(
    seq: int, t0: float, *, device: str = "press-7", stream: str = "pump-1"
) -> list[dict[str, Any]]:
    """Reading ``seq`` of a pump (temperature, vibration) one second apart from ``t0``; a bearing
    starts failing around reading 240, with its alarm event at 250."""
    t = t0 + seq
    failing = max(0, seq - 240)
    temp = 61.0 + 1.5 * math.sin(seq / 17) + 0.3 * math.sin(seq * 1.7) + 0.35 * failing
    vib = 2.1 + 0.2 * math.sin(seq / 5) + 0.12 * failing
    score = min(1.0, 0.08 + 0.05 * abs(math.sin(seq / 11)) + 0.045 * failing)
    alarm = seq == 250
    detection = {
        "stream": stream, "seq": seq, "timestamp": t, "score": score,
        "is_anomaly": score > 0.5, "alarm": alarm,
        "explanation": "vibration 3.3 mm/s above its learned range" if alarm else None,
        "detector": "default", "model_version": "1bfe908688e7",
        "events": ["alarm"] if alarm else [],
    }  # fmt: skip
    base = {"device": device, "stream": stream, "seq": seq, "timestamp": t, "received": t + 0.02}
    records = [
        {**base, "kind": "reading", "name": "",
         "body": {"values": {"temp_c": round(temp, 2), "vibration_mm_s": round(vib, 3)},
                  "detections": [detection]}},
    ]  # fmt: skip
    if alarm:
        event = {"score": score, "explanation": detection["explanation"],
                 "detector": "default", "model_version": "1bfe908688e7"}  # fmt: skip
        records.insert(0, {**base, "kind": "event", "name": "alarm", "body": event})
    return records


def run(first: int, last: int, t0: float, **where: str) -> list[dict[str, Any]]:
    """Readings ``first`` to ``last - 1`` (and their events), in the order an agent sends them."""
    return [r for seq in range(first, last) for r in machine(seq, t0, **where)]

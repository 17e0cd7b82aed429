"""Clock skew per device: robust to jitter and wrong timestamps, bounded labels, in /metrics."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from edgewise.agent import Agent, Inbound, parse_config
from edgewise.agent._inbound import Deliver
from edgewise.agent._metrics import MetricsServer
from edgewise.agent._skew import ClockSkew, SkewEstimator
from edgewise.stream import Reading

T0 = 1_700_000_040.0  # on a minute boundary


def offsets(skew: float, seconds: int, seed: int, start: float = T0) -> list[tuple[float, float]]:
    """(received, device time) once a second: ``skew`` plus 10 ms and exponential jitter, and
    one timestamp in a hundred wildly wrong (a device that misreports now and then)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(seconds):
        received = start + i
        latency = 0.01 + rng.exponential(0.05)
        wrong = rng.uniform(-100.0, 100.0) if rng.random() < 0.01 else 0.0
        out.append((received, received - skew - latency + wrong))
    return out


@pytest.mark.parametrize("skew", [3.0, -1.5, 0.0])
def test_the_estimate_is_the_skew_plus_the_smallest_latency(skew: float) -> None:
    est = SkewEstimator()
    assert est.estimate() is None
    for received, device_time in offsets(skew, 1200, seed=7):
        est.add(received, device_time)
    estimate = est.estimate()
    assert estimate is not None
    assert skew + 0.01 <= estimate + 1e-9 and estimate < skew + 0.02


def test_a_stepped_clock_is_followed_within_half_the_window() -> None:
    est = SkewEstimator(bucket_s=60.0, buckets=10)
    for received, device_time in offsets(3.0, 600, seed=1):
        est.add(received, device_time)
    for received, device_time in offsets(0.5, 360, seed=2, start=T0 + 600):  # NTP stepped it
        est.add(received, device_time)
    estimate = est.estimate()
    assert estimate is not None and 0.51 <= estimate < 0.52


def test_streams_share_their_devices_estimate_and_labels_stay_bounded(tmp_path: Path) -> None:
    config = parse_config(
        """
version: 1
device: {id: gateway}
inputs: [{type: replay, name: feed, path: unused.csv}]
streams:
  - {match: "plc-1/*", device: plc-1}
  - {match: "pump-*"}
""",
        tmp_path / "agent.yaml",
    )
    clocks = ClockSkew(config.device_of)
    for i in range(1000):  # a thousand streams, two devices
        clocks.add(f"plc-1/s{i}", T0 + i, T0 + i - 2.0)
        clocks.add(f"pump-{i}", T0 + i, T0 + i + 1.0)
        clocks.add(f"fan-{i}", T0 + i, T0)  # served by no entry: not estimated
    assert clocks.estimates() == {"plc-1": 2.0, "pump-*": -1.0}
    clocks.remap(config.device_of, {"plc-1"})  # a reload whose file no longer names pump-*
    assert clocks.estimates() == {"plc-1": 2.0}
    with pytest.raises(ValueError, match="bucket_s must be > 0"):
        SkewEstimator(bucket_s=0.0)


class Feed:
    """Readings from two devices whose clocks are 2 s behind and 0.5 s ahead of the agent's."""

    name = "feed"

    def start(self, deliver: Deliver) -> None:
        readings = [
            Reading(stream, T0 + i - skew, {"temp": 20.0}, received=T0 + i + 0.01)
            for i in range(100)
            for stream, skew in (("plc-1/temp", 2.0), ("pump-1", -0.5))
        ]
        deliver(Inbound("feed", "", readings, "readings", T0))

    def stop(self) -> None:
        pass


def test_the_agent_exposes_each_devices_skew_in_metrics(tmp_path: Path) -> None:
    config = parse_config(
        f"""
version: 1
device: {{id: gateway}}
inputs: [{{type: replay, name: feed, path: unused.csv}}]
streams:
  - {{match: "plc-1/*", device: plc-1}}
  - {{match: "pump-*", device: pumps}}
storage: {{dir: {tmp_path}}}
""",
        tmp_path / "agent.yaml",
    )
    agent = Agent(config, inputs=[Feed()])
    agent.start()
    agent.stop()  # what was delivered is processed first
    server = MetricsServer(agent, None, host="127.0.0.1", port=0)
    server.start()
    try:
        text = httpx.get(f"http://127.0.0.1:{server.port}/metrics").text
    finally:
        server.stop()
        agent.close()
    assert agent.stats.readings == 200
    skew = {
        sample.labels["device"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "edgewise_agent_clock_skew_seconds"
        for sample in family.samples
    }
    assert skew == {"plc-1": pytest.approx(2.01), "pumps": pytest.approx(-0.49)}

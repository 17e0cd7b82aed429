"""``/metrics`` (Prometheus) and ``/healthz``, read from the agent's own counters at scrape time.

Nothing is counted twice: a collector turns the agent's plain counters into metric families when
Prometheus asks, so the hot path pays nothing for observability.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from ._agent import Agent
    from ._updater import ModelUpdater
    from ._uplink import Uplink

__all__ = ["MetricsServer"]


class _AgentCollector(Collector):
    def __init__(self, agent: Agent, uplink: Uplink | None, models: ModelUpdater | None) -> None:
        self.agent = agent
        self.uplink = uplink
        self.models = models

    def collect(self) -> Iterator[Metric]:
        stats = self.agent.stats
        for name, value, doc in (
            ("messages", stats.messages, "Messages taken from the inputs."),
            ("readings", stats.readings, "Readings run through a pipeline."),
            ("detections", stats.detections, "Detection records made."),
            ("events", stats.events, "Events stored (alarms, episode ends, acceptances)."),
            ("replayed", stats.replayed, "Readings and commands replayed after a restart."),
            ("checkpoints", stats.checkpoints, "Checkpoint rounds completed."),
            ("lanes_saved", stats.lanes_saved, "Streams' states serialised for checkpoints."),
        ):
            yield CounterMetricFamily(f"edgewise_agent_{name}", doc, value=value)
        rejected = CounterMetricFamily(
            "edgewise_agent_rejected", "Input rejected, by kind.", labels=["kind"]
        )
        for kind, n in sorted(self.agent.rejected().items()):
            rejected.add_metric([kind], n)
        yield rejected
        counters = self.agent.outbox.counters()
        for prefix, name, doc in (
            ("dropped_", "outbox_dropped", "Records dropped by the disk budget."),
            ("dead_letter_", "outbox_dead_letters", "Records the hub refused for good."),
        ):
            family = CounterMetricFamily(f"edgewise_agent_{name}", doc, labels=["kind"])
            for counter, n in sorted(counters.items()):
                if counter.startswith(prefix):
                    family.add_metric([counter.removeprefix(prefix)], n)
            yield family
        yield GaugeMetricFamily(
            "edgewise_agent_outbox_records",
            "Records waiting for the hub.",
            value=self.agent.outbox.pending(),
        )
        yield GaugeMetricFamily(
            "edgewise_agent_outbox_bytes",
            "Bytes the outbox holds (estimate).",
            value=self.agent.outbox.bytes_,
        )
        skew = GaugeMetricFamily(
            "edgewise_agent_clock_skew_seconds",
            "Receive minus device time at its smallest, per device: how far the device's clock "
            "is behind the agent's, plus the smallest latency.",
            labels=["device"],
        )
        for device, seconds in sorted(self.agent.clocks.estimates().items()):
            skew.add_metric([device], seconds)
        yield skew
        if self.uplink is not None:
            sent = CounterMetricFamily(
                "edgewise_agent_uplink", "Uplink outcomes.", labels=["outcome"]
            )
            for outcome, n in sorted(self.uplink.counts.items()):
                sent.add_metric([outcome], n)
            yield sent
            yield GaugeMetricFamily(
                "edgewise_agent_uplink_unauthorised",
                "1 while the hub refuses this agent (401 or 403): records wait, none is dropped.",
                value=int(self.uplink.unauthorised),
            )
        if self.models is not None:
            updates = CounterMetricFamily(
                "edgewise_agent_model_updates",
                "Model update checks by outcome: installed, refused (a forgery or a model that "
                "failed its self-test), failed (the hub away).",
                labels=["outcome"],
            )
            for outcome, n in sorted(self.models.counts.items()):
                updates.add_metric([outcome], n)
            yield updates


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a scraper that gave up waiting: nothing to report
        super().handle_error(request, client_address)


class MetricsServer:
    """Serve ``/metrics`` and ``/healthz`` on ``host:port`` (port 0 picks a free one).

    With ``models``, the model updates' outcomes are counted and ``/healthz`` names the model
    the agent runs.
    """

    def __init__(
        self,
        agent: Agent,
        uplink: Uplink | None,
        *,
        host: str,
        port: int,
        models: ModelUpdater | None = None,
    ) -> None:
        registry = CollectorRegistry()
        registry.register(_AgentCollector(agent, uplink, models))
        started = time.monotonic()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/metrics":
                    body, kind = generate_latest(registry), "text/plain; version=0.0.4"
                elif self.path == "/healthz":
                    health: dict[str, float | str | None] = {
                        "status": "ok" if agent.ready.is_set() else "starting",
                        "uptime_s": round(time.monotonic() - started, 1),
                        "outbox_records": agent.outbox.pending(),
                        "uplink_failures": 0 if uplink is None else uplink.failures,
                        "uplink": "off" if uplink is None else uplink.state(),
                    }
                    if models is not None:
                        active = models.slots.active()
                        health["model"] = None if active is None else active.image
                    body, kind = json.dumps(health).encode(), "application/json"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                del format, args  # scrapes are not worth a log line each

        self._server = _Server((host, port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

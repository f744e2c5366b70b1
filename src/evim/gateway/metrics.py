"""The gateway's counters, exposed as Prometheus text at ``/metrics``.

Plain integers on the event loop's thread: counting costs next to nothing on the relay's
hot path.  Never a stanza's content, never a secret: only counts, sizes and conditions.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

TRANSPORTS = ("websocket", "bosh")


@dataclass
class GatewayMetrics:
    #: By browser-facing transport: "websocket", "bosh".
    sessions_open: Counter[str] = field(default_factory=Counter)
    sessions_total: Counter[str] = field(default_factory=Counter)
    stanzas_from_browser: int = 0
    stanzas_to_browser: int = 0
    bytes_from_browser: int = 0
    bytes_to_browser: int = 0
    handshakes_refused: Counter[str] = field(default_factory=Counter)
    authentication_failures: Counter[str] = field(default_factory=Counter)
    upstream_errors: Counter[str] = field(default_factory=Counter)
    frames_refused: Counter[str] = field(default_factory=Counter)
    #: Upstream logins prepared at token issue, by outcome (prepared.py).
    upstreams_prepared: Counter[str] = field(default_factory=Counter)

    def exposition(self) -> str:
        """The Prometheus text format (version 0.0.4)."""
        lines: list[str] = []

        def metric(
            name: str,
            kind: str,
            help_text: str,
            values: dict[str, int] | int,
            label_name: str = "reason",
        ) -> None:
            lines.append(f"# HELP evim_gateway_{name} {help_text}")
            lines.append(f"# TYPE evim_gateway_{name} {kind}")
            if isinstance(values, int):
                lines.append(f"evim_gateway_{name} {values}")
                return
            for label, value in sorted(values.items()):
                lines.append(f'evim_gateway_{name}{{{label_name}="{_label(label)}"}} {value}')

        # Both transports always appear, at 0 before their first stream.
        by_transport = dict.fromkeys(TRANSPORTS, 0)
        metric(
            "sessions_open",
            "gauge",
            "Streams open now, by transport.",
            by_transport | dict(self.sessions_open),
            label_name="transport",
        )
        metric(
            "sessions_total",
            "counter",
            "Streams accepted, by transport.",
            by_transport | dict(self.sessions_total),
            label_name="transport",
        )
        metric(
            "stanzas_from_browser_total",
            "counter",
            "Elements relayed to servers.",
            self.stanzas_from_browser,
        )
        metric(
            "stanzas_to_browser_total",
            "counter",
            "Elements relayed to browsers.",
            self.stanzas_to_browser,
        )
        metric(
            "bytes_from_browser_total",
            "counter",
            "Bytes relayed to servers.",
            self.bytes_from_browser,
        )
        metric(
            "bytes_to_browser_total", "counter", "Bytes relayed to browsers.", self.bytes_to_browser
        )
        metric(
            "handshakes_refused_total",
            "counter",
            "WebSocket handshakes refused.",
            dict(self.handshakes_refused),
        )
        metric(
            "authentication_failures_total",
            "counter",
            "Browser authentications refused.",
            dict(self.authentication_failures),
        )
        metric(
            "upstream_errors_total",
            "counter",
            "Upstream connections that failed.",
            dict(self.upstream_errors),
        )
        metric(
            "frames_refused_total",
            "counter",
            "Browser frames refused (stream ended).",
            dict(self.frames_refused),
        )
        metric(
            "upstreams_prepared_total",
            "counter",
            "Upstream logins prepared with a token: claimed, expired, discarded, evicted.",
            dict(self.upstreams_prepared),
        )
        return "\n".join(lines) + "\n"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


#: The counters of this process.
METRICS = GatewayMetrics()

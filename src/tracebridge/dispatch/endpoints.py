"""Where each target's messages go, read from settings: one URL per target.

The URL's scheme picks the connector::

    TRACEBRIDGE_DISPATCH_ENDPOINTS='{"wms": "amqp://guest:guest@mq:5672/?exchange=wms.quality",
                                     "erp": "https://erp.example/hooks/usage-decision"}'
    TRACEBRIDGE_DISPATCH_SECRETS='{"erp": "…"}'        # HMAC key of each webhook target

A target without an endpoint writes files under ``<data_dir>/outbox/<target>`` — the
embedded default, which needs no broker and loses nothing until one is configured.

>>> split_exchange("amqp://h:5672/%2F?exchange=wms.quality&heartbeat=30")
('amqp://h:5672/%2F?heartbeat=30', 'wms.quality')
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic_settings import BaseSettings, SettingsConfigDict

from tracebridge.dispatch.amqp import AmqpOutbound
from tracebridge.dispatch.files import FileOutbound
from tracebridge.dispatch.outbound import Outbound
from tracebridge.dispatch.outbound_mapping import OutboundMapping, load_outbound_mapping
from tracebridge.dispatch.webhook import WebhookOutbound
from tracebridge.errors import MappingError


class DispatchSettings(BaseSettings):
    """Outbound targets: their mappings (built-in name or file path) and endpoints."""

    model_config = SettingsConfigDict(env_prefix="TRACEBRIDGE_DISPATCH_", extra="ignore")

    targets: list[str] = ["wms", "erp"]
    endpoints: dict[str, str] = {}
    secrets: dict[str, str] = {}
    idle_seconds: float = 1.0


def load_target_mappings(settings: DispatchSettings) -> list[OutboundMapping]:
    mappings = [load_outbound_mapping(ref) for ref in settings.targets]
    names = [m.target for m in mappings]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise MappingError(f"TRACEBRIDGE_DISPATCH_TARGETS names target(s) {', '.join(twice)} "
                           f"more than once (given {settings.targets}); expected one mapping each")
    return mappings


def split_exchange(url: str) -> tuple[str, str]:
    """Take the ``exchange`` query parameter out of an AMQP URL."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query)
    exchange = next((value for key, value in query if key == "exchange"), "")
    rest = urlencode([(key, value) for key, value in query if key != "exchange"])
    return urlunsplit(parts._replace(query=rest)), exchange


def build_outbound(target: str, url: str, *, secret: str | None) -> Outbound:
    scheme = urlsplit(url).scheme
    if scheme in ("amqp", "amqps"):
        broker, exchange = split_exchange(url)
        if not exchange:
            raise ValueError(f"endpoint of target {target!r} is {url!r}; expected "
                             "'?exchange=NAME' on the AMQP URL")
        return AmqpOutbound(broker, exchange=exchange)
    if scheme in ("http", "https"):
        if not secret:
            raise ValueError(f"webhook target {target!r} ({url}) has no signing secret; "
                             "expected TRACEBRIDGE_DISPATCH_SECRETS to name one")
        return WebhookOutbound(url, secret=secret.encode("utf-8"))
    if scheme == "file":
        return FileOutbound(Path(urlsplit(url).path))
    raise ValueError(f"endpoint of target {target!r} is {url!r}; expected an amqp://, "
                     "http(s):// or file:// URL")


def build_outbounds(
    settings: DispatchSettings, targets: list[str], *, data_dir: Path
) -> dict[str, Outbound]:
    """One connector per target; targets without an endpoint write files."""
    connectors: dict[str, Outbound] = {}
    for target in targets:
        url = settings.endpoints.get(target)
        if url is None:
            connectors[target] = FileOutbound(data_dir.resolve() / "outbox" / target)
        else:
            connectors[target] = build_outbound(target, url, secret=settings.secrets.get(target))
    return connectors

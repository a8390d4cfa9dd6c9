"""Connector types: where a connector's rows come from (``connectors.base`` says what a type is).

``BUILTIN`` holds the types plancube ships — a REST pull (``connectors.rest``) and a SQL source
(``connectors.sql``) — by name; plugins add theirs through the hook registry, and
``server.services.connectors.connector_types`` is the one place that lists them all.
"""

from __future__ import annotations

from connectors.base import ConnectorType, Pull, PullFailed, Watermark
from connectors.rest import REST
from connectors.sql import SQL

BUILTIN: dict[str, ConnectorType] = {t.name: t for t in (REST, SQL)}

__all__ = ["BUILTIN", "ConnectorType", "Pull", "PullFailed", "Watermark"]

"""The built-in connector types — REST and SQL — registered as a plugin like any other.

``server.plugins.manager`` registers this module beside the built-in readers; a third-party
connector type comes the same way from its package's entry point (docs/plugins.md), and
``server.services.connectors.connector_types`` lists them all from the registry.
"""

from __future__ import annotations

from connectors import BUILTIN, ConnectorType
from server.plugins import hookimpl


@hookimpl
def plancube_connectors() -> list[ConnectorType]:
    return list(BUILTIN.values())

"""The hook registry: what plugins add to plancube, and the built-ins added the same way.

A plugin is a Python module (or object) with functions marked ``@hookimpl`` whose names are the
hooks below; each hook answers a list of things it contributes. The registry (``manager()``, one
``pluggy.PluginManager`` per process) holds the built-in plugins and every plugin installed in
the environment under the setuptools entry-point group ``plancube`` (``[project.entry-points
.plancube]`` in a plugin's ``pyproject.toml``), loaded when the registry is first asked. Tests
and embedding code can ``register`` one at run time. pluggy (MIT) is pytest's and datasette's
hook system: it checks each implementation's signature against its spec when it is registered,
so a misspelt hook or argument fails at start-up, not on first use.

Hooks:

- ``plancube_readers()`` — file formats imports read: a ``Reader`` each (its name, the media
  types that select it, the read options it takes, ``read(raw, **options) -> pa.Table``). The
  built-in CSV, XLSX and Parquet readers are the plugin ``server.imports.builtin_readers``;
  ``server.imports.read.read`` dispatches every import through the registry.
- ``plancube_connectors()`` — sources imports pull from (a REST API, an SQL database): a
  ``Connector`` each (its name, a pydantic model of its configuration, ``pull``).
- ``plancube_forecast_models()`` and ``plancube_notifiers()`` — declared for the forecasting and
  notification issues still to come; nothing calls them yet, and their contributions' shape will
  be fixed by those issues (so a plugin implementing them today may have to change).

See docs/plugins.md for how to write one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pluggy
import pyarrow as pa

from connectors.base import ConnectorType

PROJECT = "plancube"  # the hook prefix, the markers' name and the entry-point group

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

BUILTINS = ("server.imports.builtin_readers", "connectors.builtin")


@dataclass(frozen=True)
class Reader:
    """A file format imports read.

    ``read(raw, **options)`` gets the file's bytes and those of the import's read options
    (``delimiter``, ``encoding``, ``sheet``) that are named in ``options`` and were given; it
    answers a table whose first row is the file's row 2 (the header is row 1) and raises
    ``server.imports.read.UnreadableFile`` (400) for a file it cannot read.
    """

    name: str  # the import's ``format=``, e.g. "csv"
    media_types: tuple[str, ...]  # Content-Types that choose it
    read: Callable[..., pa.Table]
    options: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()  # file-name endings the CLI takes for it, e.g. (".csv",)
    description: str = ""


Connector = ConnectorType
"""A source imports pull from (a REST API, a database): ``connectors.base.ConnectorType`` — a
name, the pydantic model of its configuration (validated before ``pull`` is called), and
``pull(config, secrets, watermark) -> Pull``: the rows since ``watermark`` (None: all of them)
as an iterator of Arrow record batches, and a callable answering the new watermark once every
batch is read. ``secrets`` maps names to credentials resolved from the environment or the
encrypted store; never part of ``config``, never logged."""


class Hooks:
    """The hook specifications. Each answers a list; the registry concatenates them."""

    @hookspec
    def plancube_readers(self) -> list[Reader]:  # type: ignore[empty-body]
        """File formats for imports (``Reader``)."""

    @hookspec
    def plancube_connectors(self) -> list[Connector]:  # type: ignore[empty-body]
        """Pull sources for imports (``Connector``)."""

    @hookspec
    def plancube_forecast_models(self) -> list[Any]:  # type: ignore[empty-body]
        """Forecast models — declared for the forecasting issue; not called yet."""

    @hookspec
    def plancube_notifiers(self) -> list[Any]:  # type: ignore[empty-body]
        """Notifiers (mail, chat) — declared for the notifications issue; not called yet."""


class DuplicateName(ValueError):
    """Two plugins contribute the same name (a reader, a connector): which one wins would
    depend on load order, so neither is taken silently."""


_pm: pluggy.PluginManager | None = None
_lock = threading.Lock()


def manager() -> pluggy.PluginManager:
    """The process's registry: the built-ins and the installed plugins, loaded once."""
    global _pm
    with _lock:
        if _pm is None:
            import importlib

            pm = pluggy.PluginManager(PROJECT)
            pm.add_hookspecs(Hooks)
            for name in BUILTINS:
                pm.register(importlib.import_module(name), name=name)
            pm.load_setuptools_entrypoints(PROJECT)
            _pm = pm
        return _pm


def reset() -> None:
    """Forget the registry; the next ``manager()`` builds it afresh (tests, after installing
    a plugin's distribution)."""
    global _pm
    with _lock:
        _pm = None


def register(plugin: object, name: str | None = None) -> str:
    """Add a plugin at run time (tests, embedding); ``unregister`` takes it away."""
    registered = manager().register(plugin, name=name)
    assert registered is not None, f"plugin {name or plugin!r} is blocked"
    return registered


def unregister(name: str) -> None:
    manager().unregister(name=name)


def _named(kind: str, items: list[list[Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for contribution in items:
        for item in contribution:
            if item.name in out:
                raise DuplicateName(f"two plugins contribute a {kind} named {item.name!r}")
            out[item.name] = item
    return out


def readers() -> dict[str, Reader]:
    """Every registered reader by format name, the built-ins first."""
    return _named("reader", list(reversed(manager().hook.plancube_readers())))


def connectors() -> dict[str, Connector]:
    return _named("connector", list(reversed(manager().hook.plancube_connectors())))

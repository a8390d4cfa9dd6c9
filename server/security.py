"""How the server faces browsers: the names it answers to, the pages it trusts, who may frame it.

A planning server on a laptop or an intranet is reachable by every page its users open, so
each request a browser can be made to send is checked against these settings, all in one place
(docs/security.md, "Hardening"):

- ``PLANCUBE_PUBLIC_URL``: the URL people open, e.g. ``https://plan.example.com`` behind a
  reverse proxy. Its host is an allowed host and its origin an allowed origin.
- ``PLANCUBE_ALLOWED_HOSTS``: host names the server answers to besides ``localhost``,
  ``127.0.0.1``, ``::1``, the address it listens on and the public URL's host (``server.hosts``,
  against DNS rebinding). ``*.example.com`` matches the subdomains; ``*`` turns the check off.
- ``PLANCUBE_ALLOWED_ORIGINS``: origins (``https://addin.example.com``) of other sites' pages
  that may call the API from a browser (CORS) and change things or open the live feed
  (``server.origins``). The server's own pages always may; by default no other may.
- ``PLANCUBE_FRAME_ANCESTORS``: the sources (CSP ``frame-ancestors``) that may show the server's
  pages in a frame, e.g. Office for the Excel add-in; by default none (``server.headers``).

Each is a list separated by commas or spaces. ``plancube serve`` takes the first three as
options too (``--public-url``, ``--allowed-hosts``, ``--allowed-origins``), which win over the
environment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from server.errors import BadRequest

PUBLIC_URL_SETTING = "PLANCUBE_PUBLIC_URL"
HOSTS_SETTING = "PLANCUBE_ALLOWED_HOSTS"
ORIGINS_SETTING = "PLANCUBE_ALLOWED_ORIGINS"
FRAME_SETTING = "PLANCUBE_FRAME_ANCESTORS"
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
WILDCARD_ADDRESSES = ("", "0.0.0.0", "::")  # listening everywhere names no host
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def split_host(host: str) -> tuple[str, int | None]:
    """``"Plan.Example.com:8000"`` -> ``("plan.example.com", 8000)``; ``"[::1]"`` -> ``("::1",
    None)``. A port that is not a number is kept in the name, so it matches nothing."""
    host = host.strip().lower()
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        port = rest.removeprefix(":")
    elif host.count(":") == 1:
        name, _, port = host.partition(":")
    else:
        name, port = host, ""  # a bare IPv6 address, or no port
    if port and not port.isdigit():
        return host, None
    return name, int(port) if port else None


def origin_of(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of a URL or an ``Origin`` header; None for ``null`` or no host."""
    parts = urlsplit(url.strip().lower())
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    return parts.scheme, parts.hostname, port or _DEFAULT_PORTS[parts.scheme]


def _origin_text(url: str, setting: str) -> str:
    """``url`` as an origin (``scheme://host[:port]``), refused when it is more or less."""
    parts = urlsplit(url.strip())
    if (
        origin_of(url) is None
        or parts.scheme not in ("http", "https")
        or parts.path.strip("/")
        or parts.query
    ):
        raise BadRequest(
            f"{setting}: {url!r} is not an origin; write scheme://host[:port], e.g. "
            "https://plan.example.com",
            setting=setting,
        )
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Security:
    public_url: str | None = None
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    frame_ancestors: tuple[str, ...] = ()
    listen_host: str = field(default="127.0.0.1", compare=False)

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        public_url: str | None = None,
        allowed_hosts: str | None = None,
        allowed_origins: str | None = None,
        listen_host: str = "127.0.0.1",
    ) -> Security:
        """The settings in the environment, each overridden by the argument when one is given
        (the ``plancube serve`` options)."""
        env = os.environ if environ is None else environ
        given = public_url if public_url is not None else env.get(PUBLIC_URL_SETTING, "")
        url = _origin_text(given, PUBLIC_URL_SETTING) if given.strip() else None
        origins = _listed(allowed_origins, env, ORIGINS_SETTING)
        return cls(
            public_url=url,
            allowed_hosts=_listed(allowed_hosts, env, HOSTS_SETTING),
            allowed_origins=tuple(_origin_text(o, ORIGINS_SETTING) for o in origins),
            frame_ancestors=_listed(None, env, FRAME_SETTING),
            listen_host=listen_host,
        )

    def host_names(self) -> tuple[str, ...]:
        """Every host name the server answers to (``*`` for any)."""
        names = [*LOCAL_HOSTS, *(h.lower().strip("[]") for h in self.allowed_hosts)]
        listen = self.listen_host.strip("[]").lower()
        if listen not in WILDCARD_ADDRESSES:
            names.append(listen)
        public = origin_of(self.public_url) if self.public_url else None
        if public is not None:
            names.append(public[1])
        return tuple(dict.fromkeys(names))

    def trusted_origins(self) -> tuple[str, ...]:
        """The origins of other sites' pages that may act here (the server's own always may)."""
        own = (self.public_url,) if self.public_url else ()
        return tuple(dict.fromkeys((*own, *self.allowed_origins)))


def _listed(given: str | None, env: Mapping[str, str], setting: str) -> tuple[str, ...]:
    raw = given if given is not None else env.get(setting, "")
    return tuple(item for item in re.split(r"[,\s]+", raw) if item)

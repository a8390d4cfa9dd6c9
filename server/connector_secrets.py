"""Connector credentials: referenced from the environment, or stored encrypted.

A connector names its secrets (``token``, ``db_password``…) and its config refers to them by
name. Each secret is one of:

- a reference ``env:NAME``: the value is read from the server's environment variable ``NAME``
  when a run needs it, never stored;
- a stored value (given as ``{"value": "…"}``): encrypted with Fernet (AES-128-CBC with an
  HMAC, from ``cryptography``) under the key in ``PLANCUBE_SECRET_KEY`` and kept only so. Several
  keys separated by spaces rotate: the first encrypts, any of them decrypts. Without the
  variable a stored secret can be neither saved nor used, and the error says so.

A secret is write-only: the API shows ``{"set": true}`` (and the variable's name for a
reference), never the value; run history and error messages have every value a run read
replaced by ``[secret]`` (``Secrets.redact``), and nothing here logs one.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote, quote_plus, unquote, urlsplit

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from server.errors import PlancubeError

KEY_SETTING = "PLANCUBE_SECRET_KEY"
ENV_PREFIX = "env:"
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
REDACTED = "[secret]"


class SecretKeyMissing(PlancubeError):
    """A stored secret is to be saved or read, and the server has no key."""

    status = 409
    code = "secret_key_missing"


class SecretUnavailable(PlancubeError):
    """A run needs a secret it cannot read (an unset variable, a key that does not fit)."""

    status = 409
    code = "secret_unavailable"


def _fernet(environ: Mapping[str, str] | None = None) -> MultiFernet:
    env = os.environ if environ is None else environ
    keys = env.get(KEY_SETTING, "").split()
    if not keys:
        raise SecretKeyMissing(
            f"storing or reading an encrypted secret needs {KEY_SETTING} (a Fernet key: "
            "python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'); or refer to an environment variable "
            'instead ("env:NAME")',
            setting=KEY_SETTING,
        )
    try:
        return MultiFernet([Fernet(k.encode()) for k in keys])
    except ValueError:
        raise SecretKeyMissing(
            f"{KEY_SETTING} is not a Fernet key (32 url-safe base64-encoded bytes)",
            setting=KEY_SETTING,
        ) from None


def stored_form(given: str | dict[str, Any], name: str) -> dict[str, str]:
    """What the store keeps for a secret as the API gives it: ``"env:NAME"`` or
    ``{"env": "NAME"}`` as a reference, ``{"value": "…"}`` encrypted."""
    if isinstance(given, str):
        if not given.startswith(ENV_PREFIX):
            raise ValueError(
                f'secret {name!r}: a string is a reference "env:NAME"; give a value to store '
                'as {"value": "…"}'
            )
        given = {"env": given.removeprefix(ENV_PREFIX)}
    if "env" in given:
        env = given["env"]
        if not isinstance(env, str) or not ENV_NAME.match(env):
            raise ValueError(f"secret {name!r}: {env!r} is not an environment variable name")
        return {"env": env}
    value = given.get("value")
    if not isinstance(value, str) or not value:
        raise ValueError(f'secret {name!r}: give "env:NAME" or {{"value": "…"}}')
    return {"fernet": _fernet().encrypt(value.encode()).decode()}


def shown(stored: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, Any]]:
    """The secrets as the API shows them: whether set, and a reference's variable."""
    out: dict[str, dict[str, Any]] = {}
    for name, form in stored.items():
        out[name] = {"set": True, "env": form["env"]} if "env" in form else {"set": True}
    return out


class Secrets(Mapping[str, str]):
    """A connector's secrets for one run, each resolved when first read; remembers what it
    handed out, to redact."""

    def __init__(
        self, stored: Mapping[str, Mapping[str, str]], environ: Mapping[str, str] | None = None
    ) -> None:
        self._stored = dict(stored)
        self._env = os.environ if environ is None else environ
        self._values: dict[str, str] = {}

    def __getitem__(self, name: str) -> str:
        if name in self._values:
            return self._values[name]
        form = self._stored[name]  # KeyError: not one of the connector's
        if "env" in form:
            value = self._env.get(form["env"])
            if not value:
                raise SecretUnavailable(
                    f"secret {name!r} refers to the environment variable {form['env']!r}, "
                    "which the server does not have",
                    secret=name,
                    env=form["env"],
                )
        else:
            try:
                value = _fernet(self._env).decrypt(form["fernet"].encode()).decode()
            except InvalidToken:
                raise SecretUnavailable(
                    f"stored secret {name!r} cannot be decrypted with {KEY_SETTING}: was the "
                    "key changed? Keep the old key after the new one to rotate, or store the "
                    "secret again",
                    secret=name,
                ) from None
        self._values[name] = value
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._stored)

    def __len__(self) -> int:
        return len(self._stored)

    def __contains__(self, name: object) -> bool:
        return name in self._stored

    def redact(self, text: str) -> str:
        """The text with every value read so far hidden: as it is, URL-quoted, and — for a
        secret that is a whole URL — its password on its own."""
        values = set(self._values.values())
        for value in list(values):
            if "://" in value:
                with contextlib.suppress(ValueError):
                    password = urlsplit(value).password
                    if password:
                        values |= {password, unquote(password)}
        for value in sorted(values, key=len, reverse=True):
            for form in {value, quote(value, safe=""), quote_plus(value)}:
                if form:
                    text = text.replace(form, REDACTED)
        return text

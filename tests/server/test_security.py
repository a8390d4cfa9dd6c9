"""The settings of how the server faces browsers, read in one place (``server.security``)."""

from __future__ import annotations

import pytest

from server.errors import BadRequest
from server.security import Security


def test_defaults_answer_to_the_local_names_only() -> None:
    s = Security.from_env({})
    assert s.host_names() == ("localhost", "127.0.0.1", "::1")
    assert s.trusted_origins() == () and s.frame_ancestors == ()
    assert Security.from_env({}, listen_host="0.0.0.0").host_names() == s.host_names()
    assert "10.0.0.5" in Security.from_env({}, listen_host="10.0.0.5").host_names()


def test_the_environment_and_the_options() -> None:
    env = {
        "PLANCUBE_PUBLIC_URL": "https://Plan.Example.com/",
        "PLANCUBE_ALLOWED_HOSTS": "plan, *.corp.example",
        "PLANCUBE_ALLOWED_ORIGINS": "https://addin.example https://b.example:8443",
        "PLANCUBE_FRAME_ANCESTORS": "'self' https://*.officeapps.live.com",
    }
    s = Security.from_env(env)
    assert s.public_url == "https://plan.example.com"
    assert s.host_names()[3:] == ("plan", "*.corp.example", "plan.example.com")
    assert s.trusted_origins() == (
        "https://plan.example.com",
        "https://addin.example",
        "https://b.example:8443",
    )
    assert s.frame_ancestors == ("'self'", "https://*.officeapps.live.com")
    over = Security.from_env(env, allowed_hosts="", allowed_origins="", public_url="")
    assert over.host_names() == ("localhost", "127.0.0.1", "::1") and over.trusted_origins() == ()


@pytest.mark.parametrize("bad", ["*", "addin.example", "https://a.example/path", "ftp://a.example"])
def test_an_origin_must_be_an_origin(bad: str) -> None:
    with pytest.raises(BadRequest, match="PLANCUBE_ALLOWED_ORIGINS"):
        Security.from_env({"PLANCUBE_ALLOWED_ORIGINS": bad})


def test_every_setting_is_documented() -> None:
    from pathlib import Path

    from server import security

    root = Path(__file__).resolve().parents[2]
    page = (root / "docs" / "security.md").read_text()
    readme = (root / "README.md").read_text()
    for setting in (
        security.PUBLIC_URL_SETTING,
        security.HOSTS_SETTING,
        security.ORIGINS_SETTING,
        security.FRAME_SETTING,
    ):
        assert f"`{setting}`" in page and setting in readme, setting

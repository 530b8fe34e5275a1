"""Endpoint and key resolution, and the refusal to send the key over plain http."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import ConfigError
from reconciler.settings import DEFAULT_ENDPOINT, resolve_api_key, resolve_connection, resolve_endpoint


def test_endpoint_flag_wins_over_variable_over_default() -> None:
    """--endpoint, then AS_API_ENDPOINT, then Atomscale's URL; a trailing slash is added."""
    env = {"AS_API_ENDPOINT": "https://staging.example.test"}
    assert resolve_endpoint("https://flag.example.test/", env=env, allow_insecure_http=False) == (
        "https://flag.example.test/"
    )
    assert resolve_endpoint(None, env=env, allow_insecure_http=False) == "https://staging.example.test/"
    assert resolve_endpoint(None, env={}, allow_insecure_http=False) == DEFAULT_ENDPOINT


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8765/", "http://localhost/", "http://[::1]:9/", "http://127.5.5.5/"]
)
def test_plain_http_to_loopback_is_allowed(url: str) -> None:
    """Plain http to a loopback address needs no flag."""
    assert resolve_endpoint(url, env={}, allow_insecure_http=False).startswith("http://")


def test_plain_http_elsewhere_is_refused_naming_the_flag() -> None:
    """Plain http to another host is refused, and the message names --allow-insecure-http."""
    with pytest.raises(ConfigError, match="--allow-insecure-http"):
        resolve_endpoint("http://api.example.test/", env={}, allow_insecure_http=False)
    assert resolve_endpoint("http://api.example.test/", env={}, allow_insecure_http=True)


@pytest.mark.parametrize("url", ["ftp://x/", "api.example.test", "https://user:pw@api.example.test/"])
def test_malformed_endpoints_are_refused(url: str) -> None:
    """Only http(s) URLs with a host and no credentials are taken."""
    with pytest.raises(ConfigError):
        resolve_endpoint(url, env={}, allow_insecure_http=False)


def test_key_file_wins_over_variables(tmp_path: Path) -> None:
    """--api-key-file wins; AS_API_KEY wins over ATOMSCALE_API_KEY."""
    key_file = tmp_path / "key"
    key_file.write_text("from-file\n")
    env = {"AS_API_KEY": "as", "ATOMSCALE_API_KEY": "atomscale"}
    assert resolve_api_key(str(key_file), env=env) == "from-file"
    assert resolve_api_key(None, env=env) == "as"
    assert resolve_api_key(None, env={"ATOMSCALE_API_KEY": "atomscale"}) == "atomscale"


def test_missing_key_says_how_to_set_it(tmp_path: Path) -> None:
    """No key anywhere, an unreadable or an empty key file: clear errors naming the ways to set it."""
    with pytest.raises(ConfigError, match="AS_API_KEY"):
        resolve_api_key(None, env={})
    with pytest.raises(ConfigError, match="cannot read --api-key-file"):
        resolve_api_key(str(tmp_path / "missing"), env={})
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ConfigError, match="is empty"):
        resolve_api_key(str(tmp_path / "empty"), env={})


def test_connection_repr_hides_the_key() -> None:
    """The key is not in the connection's repr (it could end up in a log or traceback)."""
    connection = resolve_connection(
        endpoint="https://x.test/",
        api_key_file=None,
        allow_insecure_http=False,
        timeout=3,
        env={"AS_API_KEY": "s3cr3t"},
    )
    assert "s3cr3t" not in repr(connection)
    assert connection.api_key == "s3cr3t"

"""Endpoint and key resolution, and the refusal to send the key over plain http."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler import settings
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


@pytest.mark.parametrize("value", ["", "   ", "\n"])
def test_empty_endpoint_variable_is_refused_naming_it(value: str) -> None:
    """A set but empty AS_API_ENDPOINT is refused by name, never silently replaced by the default host."""
    with pytest.raises(ConfigError, match="AS_API_ENDPOINT is set but empty"):
        resolve_endpoint(None, env={"AS_API_ENDPOINT": value}, allow_insecure_http=False)


@pytest.mark.parametrize("value", ["", " \t"])
def test_empty_endpoint_flag_is_refused_naming_it(value: str) -> None:
    """`--endpoint ''` is refused too, even when AS_API_ENDPOINT holds a usable URL."""
    env = {"AS_API_ENDPOINT": "https://staging.example.test/"}
    with pytest.raises(ConfigError, match="--endpoint is set but empty"):
        resolve_endpoint(value, env=env, allow_insecure_http=False)


@pytest.mark.parametrize(
    "url",
    [
        "https://api.example.test/?x=1",
        "https://api.example.test/v1?",
        "https://api.example.test/#a",
        "https://api.example.test/v1#",
    ],
)
def test_endpoint_with_query_or_fragment_is_refused(url: str) -> None:
    """A query or fragment cannot be part of a base URL that paths are joined to: refused, not mangled."""
    with pytest.raises(ConfigError, match="query or fragment"):
        resolve_endpoint(url, env={}, allow_insecure_http=False)


def test_whitespace_around_the_endpoint_is_stripped() -> None:
    """Spaces and a trailing newline (a CI secret pasted with one) around the endpoint are stripped."""
    env = {"AS_API_ENDPOINT": "  https://staging.example.test/v1\n"}
    assert resolve_endpoint(None, env=env, allow_insecure_http=False) == "https://staging.example.test/v1/"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.example.test/v 1/", "holds a space or a control character"),
        ("https://api.example.test/\x07/", "holds a space or a control character"),
        ("http://[::1", "is not a valid URL: Invalid IPv6 URL"),
        ("https://api.example.test:99999/", "is not a valid URL: Port out of range"),
        ("https://api.example.test:https/", "is not a valid URL: Port could not be cast"),
        ("https://api.example.test:0/", "names port 0"),
    ],
)
def test_unusable_endpoints_are_refused_with_the_reason(url: str, expected: str) -> None:
    """Inner spaces, control characters, a broken IPv6 literal, a bad port: refused now, not a crash later."""
    with pytest.raises(ConfigError, match=expected):
        resolve_endpoint(url, env={}, allow_insecure_http=False)


def test_a_refused_endpoint_with_credentials_is_not_echoed() -> None:
    """An endpoint carrying a password is refused without the password in the message."""
    for url in ("https://user:hunter 2@api.example.test/", "https://user:hunter2@api.example.test/"):
        with pytest.raises(ConfigError) as caught:
            resolve_endpoint(url, env={}, allow_insecure_http=False)
        assert "hunter" not in str(caught.value)


def test_a_key_file_from_a_pipe_is_read(tmp_path: Path) -> None:
    """`--api-key-file <(pass show key)`: a pipe that sends the key and closes is read like a file."""
    read_end, write_end = os.pipe()
    os.write(write_end, b"sk-from-a-pipe\n")
    os.close(write_end)
    try:
        assert resolve_api_key(f"/dev/fd/{read_end}", env={}) == "sk-from-a-pipe"
    finally:
        os.close(read_end)


def test_an_endless_key_file_is_refused_not_read_into_memory() -> None:
    """--api-key-file /dev/zero: refused after 64 KiB with a message, never read to the end."""
    with pytest.raises(ConfigError, match="holds more than 64 KiB; a key file holds the key alone"):
        resolve_api_key("/dev/zero", env={})


def test_a_fifo_nobody_writes_to_is_refused_not_waited_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A FIFO without a writer as key file: refused once the wait for the key runs out (10 s; here 0.05)."""
    monkeypatch.setattr(settings, "KEY_PIPE_WAIT", 0.05)
    fifo = tmp_path / "key.fifo"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match=r"sent nothing for 0\.05 s"):
        resolve_api_key(str(fifo), env={})


def test_a_folder_as_key_file_says_so(tmp_path: Path) -> None:
    """--api-key-file naming a folder: a message saying so, not an OS error."""
    with pytest.raises(ConfigError, match="is a folder; name the file that holds the key"):
        resolve_api_key(str(tmp_path), env={})


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("HTTP://127.0.0.1:8765", "http://127.0.0.1:8765/"),
        ("http://127.0.0.1:08765//", "http://127.0.0.1:8765/"),
        ("http://127.0.0.1:8765/.", "http://127.0.0.1:8765/"),
        ("https://API.Atomscale.ai:443/", "https://api.atomscale.ai/"),
        ("https://api.atomscale.ai/v2//x/./", "https://api.atomscale.ai/v2/x/"),
        ("http://[::1]:80", "http://[::1]/"),
    ],
)
def test_one_api_has_one_spelling(spelling: str, canonical: str) -> None:
    """Case, default ports, leading zeros, `//` and `.`: the endpoint (and so the record's key) is one."""
    assert resolve_endpoint(spelling, env={}, allow_insecure_http=False) == canonical

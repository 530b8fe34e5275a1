"""Connection settings: endpoint, key, whether the transport is safe for the key; request defaults."""

from __future__ import annotations

import ipaddress
import os
import posixpath
import re
import select
import stat
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from reconciler.errors import ConfigError

DEFAULT_ENDPOINT = "https://api.atomscale.ai/"
# The defaults of the request options, declared once: the command line shows them, the library uses them.
DEFAULT_CONCURRENCY = 8
DEFAULT_MAX_ATTEMPTS = 6
DEFAULT_TIMEOUT = 30.0
# GitHub refuses a comment of more than 65,536 characters; this leaves room for what a workflow adds.
DEFAULT_MAX_MARKDOWN_CHARS = 60_000
KEY_VARIABLES = ("AS_API_KEY", "ATOMSCALE_API_KEY")
MAX_KEY_FILE = 64 * 1024
KEY_PIPE_WAIT = 10.0  # seconds a pipe may take to send the key
KEY_HELP = "set AS_API_KEY (or ATOMSCALE_API_KEY), or pass --api-key-file PATH"


@dataclass(frozen=True)
class Connection:
    """Where requests go and the key they carry; the key is kept out of repr and str."""

    endpoint: str
    api_key: str = field(repr=False)
    timeout: float = DEFAULT_TIMEOUT


@dataclass(frozen=True)
class ConnectionOptions:
    """The connection options as given on the command line, before they are resolved."""

    endpoint: str | None = None
    api_key_file: str | None = None
    allow_insecure_http: bool = False
    timeout: float = DEFAULT_TIMEOUT


Connector = Callable[[], AbstractContextManager[Connection]]
"""Opens the connection of a command when it is ready for one; leaving the context ends what it started.

The command line chooses it; a command calls it only once its files are valid (and its lock is held),
so that nothing is resolved, and no key is read, for a run that cannot go ahead.
"""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def resolve_endpoint(value: str | None, *, env: Mapping[str, str], allow_insecure_http: bool) -> str:
    """The endpoint from `--endpoint`, else AS_API_ENDPOINT, else the default; refused if unsafe or unusable.

    Whitespace around the value (a trailing newline from a CI secret) is stripped; a value that is empty
    once stripped is refused, never replaced by the default, which would send the key to production.
    """
    if value is not None:
        origin, raw = "--endpoint", value
    elif "AS_API_ENDPOINT" in env:
        origin, raw = "AS_API_ENDPOINT", env["AS_API_ENDPOINT"]
    else:
        origin, raw = "the default endpoint", DEFAULT_ENDPOINT
    endpoint = raw.strip()
    if not endpoint:
        instead = "leave the option out" if value is not None else "unset the variable"
        raise ConfigError(
            f"{origin} is set but empty: give the API's URL, or {instead} to use {DEFAULT_ENDPOINT}"
        )
    _check_url(endpoint, origin)
    parts = urlsplit(endpoint)
    if parts.scheme == "http" and not is_loopback(parts.hostname or "") and not allow_insecure_http:
        raise ConfigError(
            f"refusing to send the API key over plain http to {parts.hostname}; use https, "
            "or pass --allow-insecure-http if you really mean it"
        )
    return canonical_endpoint(endpoint)


def canonical_endpoint(endpoint: str) -> str:
    """One spelling per API: scheme and host in lower case, no default port, no leading zeros in the port,
    the path's `//` and `.` segments folded, one trailing `/`. The record is kept per endpoint: two
    spellings of one API must not see two records (a colleague's edit would go unseen)."""
    parts = urlsplit(endpoint)
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    port = parts.port
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    path = posixpath.normpath(re.sub("/+", "/", "/" + parts.path))
    return urlunsplit((scheme, netloc, path.rstrip("/") + "/", "", ""))


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _check_url(endpoint: str, origin: str) -> None:
    """Refuse what cannot be a base URL that paths are joined to, naming where the value came from."""
    # Userinfo is refused below; until then, never echo a value that may carry a password.
    shown = origin if "@" in endpoint else f"{origin} {endpoint!r}"
    if not endpoint.isprintable() or any(char.isspace() for char in endpoint):
        raise ConfigError(f"{shown} holds a space or a control character")
    try:
        parts = urlsplit(endpoint)
        port = parts.port
    except ValueError as exc:  # a broken IPv6 literal, a port that is no number or out of range
        raise ConfigError(f"{shown} is not a valid URL: {exc}") from None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(f"{shown} is not an http(s) URL with a host")
    if port == 0:
        raise ConfigError(f"{shown} names port 0")
    if parts.username is not None or parts.password is not None:
        raise ConfigError(f"{origin} must not carry credentials; use AS_API_KEY or --api-key-file")
    # A query or fragment would end up before the paths joined to the base URL (`?a=1/oes/…`), or be cut.
    if "?" in endpoint or "#" in endpoint:
        raise ConfigError(f"{shown} has a query or fragment ('?' or '#'); give the API's base URL alone")


def resolve_api_key(key_file: str | None, *, env: Mapping[str, str]) -> str:
    """The key from `--api-key-file` (which wins), else AS_API_KEY, else ATOMSCALE_API_KEY."""
    if key_file is not None:
        try:
            key = read_key_file(key_file).decode("utf-8").strip()
        except UnicodeDecodeError:
            raise ConfigError(f"cannot read --api-key-file {key_file}: it is not UTF-8 text") from None
        if not key:
            raise ConfigError(f"--api-key-file {key_file} is empty")
        return _sendable(key, f"--api-key-file {key_file}")
    for name in KEY_VARIABLES:
        key = env.get(name, "").strip()
        if key:
            return _sendable(key, name)
    raise ConfigError(f"no API key: {KEY_HELP}")


def read_key_file(path: str) -> bytes:
    """The bytes of a key file: a regular file, or a pipe (`--api-key-file <(pass show key)`), read with
    bounds: at most MAX_KEY_FILE bytes, and a pipe that sends nothing for KEY_PIPE_WAIT seconds is refused.
    A device like /dev/zero would otherwise fill memory, and a FIFO with no writer would wait forever."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as exc:
        raise ConfigError(f"cannot read --api-key-file {path}: {exc.strerror}") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise ConfigError(f"--api-key-file {path} is a folder; name the file that holds the key")
        return _read_bounded(fd, path, pipe=not stat.S_ISREG(mode))
    except OSError as exc:
        raise ConfigError(f"cannot read --api-key-file {path}: {exc.strerror}") from None
    finally:
        os.close(fd)


def _read_bounded(fd: int, path: str, *, pipe: bool) -> bytes:
    data = b""
    deadline = time.monotonic() + KEY_PIPE_WAIT
    while len(data) <= MAX_KEY_FILE:
        if pipe:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise ConfigError(
                    f"--api-key-file {path} sent nothing for {KEY_PIPE_WAIT:g} s (a FIFO nobody writes to?)"
                )
        chunk = os.read(fd, MAX_KEY_FILE + 1 - len(data))
        if not chunk:
            return data
        data += chunk
    raise ConfigError(
        f"--api-key-file {path} holds more than {MAX_KEY_FILE // 1024} KiB; a key file holds the key alone"
    )


def _sendable(key: str, origin: str) -> str:
    """The key, if an HTTP header can carry it; refused (without echoing it) if not."""
    # A line break or a non-ASCII character would fail every request, and the HTTP stack's own error
    # quotes the header value (escaped, so the log's masking misses it): refuse it here, before sending.
    if not key.isascii() or not key.isprintable():
        raise ConfigError(
            f"the API key from {origin} holds a line break, a control character or a character outside "
            "ASCII, which an HTTP header cannot carry; check that it holds the key alone"
        )
    return key


def resolve_connection(
    *,
    endpoint: str | None,
    api_key_file: str | None,
    allow_insecure_http: bool,
    timeout: float,
    env: Mapping[str, str] | None = None,
) -> Connection:
    """Settle endpoint and key before anything is sent."""
    env = os.environ if env is None else env
    url = resolve_endpoint(endpoint, env=env, allow_insecure_http=allow_insecure_http)
    key = resolve_api_key(api_key_file, env=env)
    return Connection(endpoint=url, api_key=key, timeout=timeout)


def connector(options: ConnectionOptions, *, secret: Callable[[str], None] | None = None) -> Connector:
    """A `Connector` that resolves `options` (then the environment) when the command calls it, and hands
    the key it read to `secret` (the run's redactor), so that nothing shows it from then on."""

    def connect() -> AbstractContextManager[Connection]:
        connection = resolve_connection(
            endpoint=options.endpoint,
            api_key_file=options.api_key_file,
            allow_insecure_http=options.allow_insecure_http,
            timeout=options.timeout,
        )
        if secret is not None:
            secret(connection.api_key)
        return nullcontext(connection)

    return connect

"""The sandbox's own errors: it imports none of the product's, so the CLI decides how they are shown."""

from __future__ import annotations


class SandboxError(Exception):
    """A setting the sandbox cannot serve with: a host beyond loopback, a port in use, an unknown fault."""


class DataFileError(SandboxError):
    """A sandbox data file that cannot be read or served; the message names the file."""

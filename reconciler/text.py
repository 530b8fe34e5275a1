"""Text from outside (server answers, files) made safe to show on a terminal or in a log line."""

from __future__ import annotations

import re

# C0 and C1 controls (line breaks, escape sequences, bells), and the bidi overrides that could reorder
# the rest of a line: a server's peak id must not clear the screen or forge a report line.
CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
REPLACEMENT = "\ufffd"


def visible(text: str) -> str:
    """`text` with every control character shown as U+FFFD, on one line; spacing is kept."""
    return CONTROLS.sub(REPLACEMENT, text)

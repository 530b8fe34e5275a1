"""Signals: the first SIGINT/SIGTERM stops a run gracefully, a second one (or one outside a run) aborts."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)


def abort_on_sigterm() -> None:
    """SIGTERM aborts like Ctrl-C (KeyboardInterrupt, exit 130) where no graceful stop is under way."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)


@contextmanager
def stop_on_signals(stop: Callable[[], None], abandon: Callable[[], None]) -> Iterator[None]:
    """SIGINT/SIGTERM: send nothing new and let requests in flight finish; a second signal abandons the
    requests in flight (the report is still written); a third aborts at once, without a report."""
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)

    def release() -> None:
        # asyncio puts SIGTERM back to the default (death by signal, 143): make it abort as SIGINT does.
        for sig in signals:
            loop.remove_signal_handler(sig)
        abort_on_sigterm()

    def on_second(signum: int) -> None:
        log.warning(
            "%s again: abandoning the requests in flight; writing the report (signal again to quit at once)",
            signal.Signals(signum).name,
        )
        abandon()
        release()

    def on_first(signum: int) -> None:
        log.warning(
            "%s: sending nothing new; waiting for requests in flight (signal again to stop waiting)",
            signal.Signals(signum).name,
        )
        stop()
        for sig in signals:
            loop.add_signal_handler(sig, on_second, sig)

    for sig in signals:
        loop.add_signal_handler(sig, on_first, sig)
    try:
        yield
    finally:
        release()

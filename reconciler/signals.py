"""Signals: the first SIGINT/SIGTERM stops a run gracefully, a second one (or one outside a run) aborts."""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported by the runs that use a loop: `validate` and the CLI's start need no asyncio
    import asyncio

log = logging.getLogger(__name__)

_Handler = Callable[[int, FrameType | None], object] | int | signal.Handlers | None


def run_signals() -> tuple[signal.Signals, ...]:
    """The signals that stop a run: SIGINT, and SIGTERM where the system has it."""
    sigterm = getattr(signal, "SIGTERM", None)
    return (signal.SIGINT,) if sigterm is None else (signal.SIGINT, sigterm)


def abort_on_sigterm() -> None:
    """SIGTERM aborts like Ctrl-C (KeyboardInterrupt, exit 130) where no graceful stop is under way."""
    for sig in run_signals()[1:]:
        signal.signal(sig, signal.default_int_handler)


class _Steps:
    """What each signal does, on the loop: stop sending, then abandon the requests in flight; `release`
    then gives the signals back to KeyboardInterrupt, so that a third one aborts at once."""

    def __init__(self, *, stop: Callable[[], None], abandon: Callable[[], None]) -> None:
        self._stop = stop
        self._abandon = abandon
        self.release: Callable[[], None] = abort_on_sigterm
        self._seen = 0

    def __call__(self, signum: int) -> None:
        self._seen += 1
        name = signal.Signals(signum).name
        if self._seen == 1:
            log.warning(
                "%s: sending nothing new; waiting for requests in flight (signal again to stop waiting)", name
            )
            self._stop()
        elif self._seen == 2:
            log.warning(
                "%s again: abandoning the requests in flight; writing the report "
                "(signal again to quit at once)",
                name,
            )
            self._abandon()
            self.release()


@contextmanager
def stop_on_signals(stop: Callable[[], None], abandon: Callable[[], None]) -> Iterator[None]:
    """SIGINT/SIGTERM: send nothing new and let requests in flight finish; a second signal abandons the
    requests in flight (the report is still written); a third aborts at once, without a report."""
    import asyncio

    loop = asyncio.get_running_loop()
    steps = _Steps(stop=stop, abandon=abandon)
    try:
        release = _on_the_loop(loop, steps)
    except NotImplementedError:  # Windows' Proactor loop: `signal.signal` in the main thread serves there
        release = _in_the_main_thread(loop, steps)
    try:
        yield
    finally:
        release()


def _on_the_loop(loop: asyncio.AbstractEventLoop, steps: _Steps) -> Callable[[], None]:
    """Handlers run by the loop itself (Unix loops); returns what removes them."""
    signals = run_signals()

    def release() -> None:
        # asyncio puts SIGTERM back to the default (death by signal, 143): make it abort as SIGINT does.
        for sig in signals:
            loop.remove_signal_handler(sig)
        abort_on_sigterm()

    steps.release = release
    added: list[signal.Signals] = []
    try:
        for sig in signals:
            loop.add_signal_handler(sig, steps, sig)
            added.append(sig)
    except NotImplementedError:
        for sig in added:
            loop.remove_signal_handler(sig)
        raise
    return release


def _in_the_main_thread(loop: asyncio.AbstractEventLoop, steps: _Steps) -> Callable[[], None]:
    """Handlers set with `signal.signal` that hand each signal to the loop (a handler runs between two
    bytecodes of the main thread, maybe inside the loop: it only schedules); returns what restores the
    handlers found."""
    signals = run_signals()
    previous: dict[signal.Signals, _Handler] = {sig: signal.getsignal(sig) for sig in signals}

    def handle(signum: int, _frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(steps, signum)

    def abort() -> None:
        for sig in signals:
            signal.signal(sig, signal.default_int_handler)

    def restore() -> None:
        for sig, handler in previous.items():
            # None: set outside Python; the default is the nearest we can put back.
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)

    steps.release = abort
    for sig in signals:
        signal.signal(sig, handle)
    log.info("signals are handled with signal.signal: this event loop has no add_signal_handler")
    return restore

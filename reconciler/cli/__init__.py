"""The command line: parse the arguments, call the library, turn its root error into a message and exit code.

Only this layer knows argparse and the sandbox: `parser` declares every option once, `arguments` holds
them typed, `commands` turns them into the library's options and calls it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from reconciler.cli.parser import build_parser
from reconciler.errors import EXIT_INTERRUPTED, ReconcileError
from reconciler.logs import Redactor

__all__ = ["build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (the console script exits with it)."""
    redactor = Redactor()  # the run's secrets: its key, once read, is masked in everything shown
    try:
        from reconciler.cli.arguments import parse

        args = parse(argv)
        from reconciler import logs
        from reconciler.cli import commands
        from reconciler.signals import abort_on_sigterm

        abort_on_sigterm()
        logs.configure(verbosity=args.verbose, quiet=args.quiet, redactor=redactor)
        return commands.dispatch(args, redactor=redactor)
    except ReconcileError as exc:
        print(redactor.scrub(exc.render()), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `oes-reconcile plan … | head`: the reader left. Point stdout at /dev/null so that the flush at
        # exit does not fail again, and say so once.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print("oes-reconcile: stdout was closed before the report was written in full", file=sys.stderr)
        return 1
    except Exception:  # noqa: BLE001 (a bug: keep its traceback, but never the key Python would print raw)
        import traceback

        print(redactor.scrub(traceback.format_exc()), end="", file=sys.stderr)
        print("internal error: this is a bug in oes-reconcile; please report it", file=sys.stderr)
        return 1

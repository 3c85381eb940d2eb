"""Stopping long jobs cleanly: Ctrl-C (SIGINT) or SIGTERM ends a job with one line that says what was kept and how to
go on, and exit code 130 or 143; worker processes leave the decision to their parent.

The CLI turns SIGTERM into `Terminated` (a KeyboardInterrupt, so every `except KeyboardInterrupt` cleans up for both);
a command that knows what it kept raises `Interrupted` with that line.
"""

from __future__ import annotations

import signal


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the main thread is (see `raise_on_sigterm`)."""


class Interrupted(Exception):
    """A job stopped by SIGINT or SIGTERM; the message says what was kept and how to go on."""

    def __init__(self, message: str, *, terminated: bool = False) -> None:
        super().__init__(message)
        self.exit_code = 143 if terminated else 130


def interrupted(message: str, cause: BaseException) -> Interrupted:
    """An Interrupted with `message`, the exit code following the signal that caused `cause`."""
    return Interrupted(message, terminated=isinstance(cause, Terminated))


received: int | None = None  # the last SIGINT or SIGTERM this process was stopped by (typer keeps the exception)


def raise_on_sigterm() -> None:
    """Make SIGTERM raise Terminated in the main thread, as SIGINT raises KeyboardInterrupt; note which came."""

    def on_term(signum, frame):
        global received
        received = signum
        raise Terminated()

    def on_int(signum, frame):
        global received
        received = signum
        raise KeyboardInterrupt()

    signal.signal(signal.SIGTERM, on_term)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not where a shell's `&` made Ctrl-C ignored
        signal.signal(signal.SIGINT, on_int)


def workers_ignore_sigint() -> None:
    """For a worker process: Ctrl-C reaches the whole process group; the parent decides and stops its workers."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

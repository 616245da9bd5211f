"""Process-wide safety nets: close every open log at exit and on SIGTERM, forget it in a fork."""

from __future__ import annotations

import atexit
import logging
import os
import signal
import sys
import threading
from types import CodeType, FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._writer import EventLog


_LOGGER = logging.getLogger("curvelog")


#: every open log, held strongly until its close: a log the program no longer
#: references (a helper returned, a notebook cell re-ran) is still closed, with
#: its buffered rows, at exit or on SIGTERM. A weak set lost it to the cycle
#: collector (the append closure refers back to the log) with its rows, its best
#: and end records, and kept its flock until exit all the same. With a flush
#: thread (``flush_every > 0``) the thread already held it; now every log does.
_OPEN_LOGS: set[EventLog] = set()
_HOOKS_INSTALLED = False
_PREVIOUS_SIGTERM: Any = None


def _close_all(reason: str) -> None:
    for log in list(_OPEN_LOGS):
        try:
            log._close(reason)
        except Exception as e:  # exit paths must not raise
            _LOGGER.warning("curvelog: could not close %s: %s", log.path, e)


class _MainThreadWrites:
    """A SIGTERM that must wait for the main thread's write section to end.

    Signal handlers run in the main thread between two bytecodes; one that
    arrives while the main thread holds a log's lock (inside
    `EventLog._under_lock`, the code in `sections`) must not write frames
    itself (the buffer is half-encoded, and the lock is not re-entrant), so
    it is deferred to the end of that section. Whether the main thread is in
    one is read off its stack when the signal comes (`_in_write_section`),
    not kept in a counter: a Ctrl-C between a counter's update and the
    ``try`` guarding it would leave the counter wrong, and every later
    SIGTERM deferred for ever.
    """

    pending: int | None = None
    #: the code objects of the functions that hold a log's lock around a write
    sections: set[CodeType] = set()


def _in_write_section(frame: FrameType | None) -> bool:
    """Whether a frame on the stack from ``frame`` up holds its log's lock."""
    while frame is not None:
        if frame.f_code in _MainThreadWrites.sections:
            log = frame.f_locals.get("self")
            if log is not None and log._lock.locked():
                return True
        frame = frame.f_back
    return False


def _flush_all() -> None:
    for log in list(_OPEN_LOGS):
        try:
            if not log.closed:
                log.flush()
        except Exception as e:  # a signal path must not raise
            _LOGGER.warning("curvelog: could not flush %s: %s", log.path, e)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    if _in_write_section(frame):
        _MainThreadWrites.pending = signum
        return
    previous = _PREVIOUS_SIGTERM
    if callable(previous):
        # The program handles SIGTERM itself (often: finish the step, save a
        # checkpoint, exit); its logs must stay open for that, so only flush.
        _flush_all()
        previous(signum, frame)
        return
    _close_all("SIGTERM")
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _deliver_pending_signal(frame: FrameType | None) -> None:
    """Act on a SIGTERM that arrived while the main thread was writing a frame, once
    the write section that ``frame`` (the caller) ends holds no lock any more."""
    signum = _MainThreadWrites.pending
    if signum is None or threading.current_thread() is not threading.main_thread():
        return
    if not _in_write_section(frame):
        _MainThreadWrites.pending = None
        _on_sigterm(signum, frame)


def _forget_after_fork() -> None:
    """A forked child must never write into its parent's log (nor flush its buffer twice).

    Nor hold its lock: an flock belongs to the open file description, which
    the child's inherited descriptor shares, and it is released only when
    every descriptor of it is closed. A DataLoader worker that outlives the
    parent's ``close`` would keep the log locked (a reopen fails, readers
    call it live), so the child closes its copy. Closing, never ``LOCK_UN``,
    which would drop the parent's lock too.
    """
    for log in list(_OPEN_LOGS):
        fd = log._fd
        log._closed = True
        log._fd = -1
        log._lock = threading.Lock()
        log.append = log._raise_closed  # type: ignore[method-assign]
        log._seal(True)  # a saved ``log.append`` raises too,
        log._retry_at = 0  # also after a failed write in the parent
        if fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass
    _OPEN_LOGS.clear()


def _install_hooks() -> None:
    """atexit and fork hooks, once, on first use; the SIGTERM handler, see `install_sigterm`.

    Only the main thread may set a signal handler, so `_HOOKS_INSTALLED`
    covers atexit and fork alone: a first log opened by a worker thread must
    not stop a later one on the main thread from installing the handler.
    """
    global _HOOKS_INSTALLED
    if not _HOOKS_INSTALLED:
        _HOOKS_INSTALLED = True
        atexit.register(_close_all, "exit")
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=_forget_after_fork)
    if _MP_CHILD_HOOKED != os.getpid():
        _close_at_multiprocessing_exit()
    install_sigterm()


#: the process that registered `_close_at_multiprocessing_exit`'s finalizer (0: none)
_MP_CHILD_HOOKED = 0


def _close_at_multiprocessing_exit() -> None:
    """In a ``multiprocessing`` child: close the logs when it ends, as atexit does elsewhere.

    A child started by fork or forkserver leaves through ``os._exit`` once its
    target returns, so atexit never runs there, and a log the target did not
    close lost its buffered rows and its end record (QA: 0 of 1,000 rows).
    multiprocessing runs its own finalizers first (``util._exit_function``):
    one of those closes them. Only where multiprocessing is already imported
    (it is, in its children); a plain ``os.fork`` child that calls
    ``os._exit`` skips every exit hook, ours too.
    """
    global _MP_CHILD_HOOKED
    mp = sys.modules.get("multiprocessing")
    if mp is None:
        return
    _MP_CHILD_HOOKED = os.getpid()
    try:
        if mp.parent_process() is None:
            return  # the main process: atexit closes them
        from multiprocessing import util

        util.Finalize(None, _close_all, args=("exit",), exitpriority=0)
    except Exception as e:  # pragma: no cover - a multiprocessing without these
        _LOGGER.warning("curvelog: cannot close logs at this process's exit: %s", e)


_SIGTERM_INSTALLED = False


def install_sigterm() -> None:
    """Close every open log on SIGTERM: installed once, by the first log opened on
    the main thread (only it may set a handler), or by calling this there.

    Once, never again: a handler the program installs later usually chains to
    the one it found (ours), and installing ours over it again would chain
    the two in a circle (a ``RecursionError`` on SIGTERM). Not at import
    either: a Python handler runs only between two bytecodes, so a program
    that merely imports curvelog would die late (or never, blocked in C) on
    SIGTERM. A program whose logs are all opened by worker threads calls
    ``curvelog.log.install_sigterm()`` once from its main thread. An ignored
    SIGTERM stays ignored; with no log open the handler does what the
    default does.
    """
    global _PREVIOUS_SIGTERM, _SIGTERM_INSTALLED
    if _SIGTERM_INSTALLED or threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous in (signal.SIG_IGN, None):
        return
    try:
        signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # pragma: no cover - a subinterpreter: signals are not ours to set
        return
    _PREVIOUS_SIGTERM, _SIGTERM_INSTALLED = previous, True

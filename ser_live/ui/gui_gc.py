"""Python's cyclic garbage collector, kept on the GUI thread while windows are about.

Why: CPython collects reference cycles on whichever thread crosses its allocation threshold,
and pyqtgraph's plots and our windows are cycles. A view the GUI thread has dropped was
destroyed by the engine's or a websocket client's thread, while the GUI thread painted, and
Qt crashed (a `view.grab()` segfault in the test suite). pyqtgraph's `GarbageCollector` turns
automatic collection off and collects from a timer on the GUI thread instead; `gui_thread_gc`
scopes it to the time windows are made, shown and dropped, and collects once more at the end
so that what they left dies here too.
"""
from __future__ import annotations

import contextlib
import gc


class gui_thread_gc(contextlib.ContextDecorator):  # noqa: N801  (used as a decorator)
    """Context manager and decorator; re-entrant (only the outermost scope acts). GUI thread only."""

    _depth = 0
    _collector = None
    _was_enabled = True

    def __init__(self, interval_s: float = 1.0) -> None:
        self.interval_s = interval_s

    def __enter__(self) -> "gui_thread_gc":
        cls = type(self)
        if cls._depth == 0:
            from pyqtgraph.util.garbage_collector import GarbageCollector

            from .app import qt_app

            qt_app()  # the timer needs the application
            cls._was_enabled = gc.isenabled()
            cls._collector = GarbageCollector(interval=self.interval_s)  # disables automatic gc
        cls._depth += 1
        return self

    def __exit__(self, *exc: object) -> None:
        cls = type(self)
        cls._depth -= 1
        if cls._depth == 0:
            cls._collector.timer.stop()
            cls._collector = None
            gc.collect()
            if cls._was_enabled:
                gc.enable()

"""Line-oriented sinks: one JSON object per message, or one human-readable line."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Collection, TextIO


class FollowedFile:
    """A log file opened for appending that follows log rotation: once the path is renamed or
    removed (logrotate's default), the next line opens a new file there, as logging's
    WatchedFileHandler (whose check this uses) does; copytruncate needs nothing, since every
    line is appended at the file's end. An unattended monitor wrote on into the rotated file
    until it was restarted, and into nothing once that file was deleted."""

    def __init__(self, path: str | Path) -> None:
        from logging.handlers import WatchedFileHandler

        self._handler = WatchedFileHandler(path, mode="a", encoding="utf-8")

    def write(self, text: str) -> int:
        self._handler.reopenIfNeeded()
        return self._handler.stream.write(text)

    def flush(self) -> None:
        self._handler.stream.flush()

    def close(self) -> None:
        self._handler.close()


class _LineSink:
    """Writes a line per message and flushes it, so a pipe reader sees it at once.

    A write that fails (the reader of a pipe went away, a full disk) is kept in `error` and
    handed once to `on_error` (the monitor stops its engine: its output has nowhere to go);
    later messages are dropped instead of raising on the bus's thread again."""

    TYPES: Collection[str] = ()  # the message types written unless `types` says otherwise

    def __init__(self, fh: TextIO | FollowedFile, types: Collection[str] | None = None,
                 on_error: Callable[[OSError], None] | None = None) -> None:
        self.fh, self.types, self.on_error = fh, set(self.TYPES if types is None else types), on_error
        self.error: OSError | None = None

    def _write(self, line: str) -> None:
        if self.error is not None:
            return
        try:
            self.fh.write(line + "\n")
            self.fh.flush()
        except OSError as exc:
            self.error = exc
            if self.on_error is not None:
                self.on_error(exc)


class JsonlSink(_LineSink):
    """One JSON object per line: events, status and summaries, for programs."""

    TYPES = ("event", "status", "summary")

    def __call__(self, msg: Any) -> None:
        if msg.type in self.types:
            self._write(json.dumps(msg.to_dict(), separators=(",", ":")))


class TextSink(_LineSink):
    """A line per event and summary for people watching a terminal."""

    TYPES = ("event", "summary")

    def __call__(self, msg: Any) -> None:
        if msg.type not in self.types:
            return
        if msg.type == "event":
            v3 = max(msg.valence3, key=msg.valence3.get)
            line = (f"[{msg.stream}] {msg.t_start:8.2f}-{msg.t_end:8.2f} s  {msg.label:<9} "
                    f"{msg.confidence:4.0%}  {v3:<8} arousal {msg.arousal:+.2f} "
                    f"valence {msg.valence:+.2f}  ({msg.latency_ms:.0f} ms)")
        elif msg.type == "summary":
            # the three commonest emotions that were heard at all
            top = [kv for kv in sorted(msg.share.items(), key=lambda kv: -kv[1]) if kv[1] > 0][:3]
            line = (f"[{msg.stream}] summary: {msg.duration_s:.1f} s, speech {msg.speech_s:.1f} s, "
                    f"{msg.events} windows; " + (", ".join(f"{k} {v:.0%}" for k, v in top) or "no emotion")
                    + f"; longest negative stretch {msg.longest_negative_s:.1f} s; "
                    f"overruns {msg.overruns}")
        else:
            line = (f"[{msg.stream}] {msg.t:8.2f} s  {'speech ' if msg.speech else 'silence'} "
                    f"{msg.level_db:6.1f} dBFS")
        self._write(line)

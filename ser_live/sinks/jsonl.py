"""Line-oriented sinks: one JSON object per message, or one human-readable line."""
from __future__ import annotations

import json
from typing import Any, Collection, TextIO


class JsonlSink:
    """Writes each message as one JSON line and flushes, so a pipe reader sees it at once."""

    def __init__(self, fh: TextIO, types: Collection[str] = ("event", "status", "summary")) -> None:
        self.fh, self.types = fh, set(types)

    def __call__(self, msg: Any) -> None:
        if msg.type in self.types:
            self.fh.write(json.dumps(msg.to_dict(), separators=(",", ":")) + "\n")
            self.fh.flush()


class TextSink:
    """A line per event and summary for people watching a terminal."""

    def __init__(self, fh: TextIO, types: Collection[str] = ("event", "summary")) -> None:
        self.fh, self.types = fh, set(types)

    def __call__(self, msg: Any) -> None:
        if msg.type not in self.types:
            return
        if msg.type == "event":
            v3 = max(msg.valence3, key=msg.valence3.get)
            line = (f"[{msg.stream}] {msg.t_start:8.2f}-{msg.t_end:8.2f} s  {msg.label:<9} "
                    f"{msg.confidence:4.0%}  {v3:<8} arousal {msg.arousal:+.2f} "
                    f"valence {msg.valence:+.2f}  ({msg.latency_ms:.0f} ms)")
        elif msg.type == "summary":
            top = sorted(msg.share.items(), key=lambda kv: -kv[1])[:3]
            line = (f"[{msg.stream}] summary: {msg.duration_s:.1f} s, speech {msg.speech_s:.1f} s, "
                    f"{msg.events} windows; " + ", ".join(f"{k} {v:.0%}" for k, v in top) +
                    f"; longest negative stretch {msg.longest_negative_s:.1f} s; "
                    f"overruns {msg.overruns}")
        else:
            line = (f"[{msg.stream}] {msg.t:8.2f} s  {'speech ' if msg.speech else 'silence'} "
                    f"{msg.level_db:6.1f} dBFS")
        self.fh.write(line + "\n")
        self.fh.flush()

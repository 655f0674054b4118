"""Offline analysis of recordings through the same engine as live monitoring, at full speed."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from .audio.io import AUDIO_EXTENSIONS
from .engine import Engine, EngineConfig, WindowClassifier
from .events import EmotionEvent, Summary


def expand_inputs(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given; a directory means every audio file under it, sorted."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in AUDIO_EXTENSIONS)
        else:
            out.append(p)
    return out


def analyze_file(path: str | Path, classifier: WindowClassifier,
                 cfg: EngineConfig = EngineConfig(), split: bool = False
                 ) -> tuple[list[EmotionEvent], list[Summary]]:
    """Every window's event and each stream's summary for one recording."""
    from .audio.sources import FileSource

    events: list[EmotionEvent] = []
    engine = Engine([FileSource(path, realtime=False, split=split, name=Path(path).name)],
                    classifier, cfg)
    sub = engine.bus.subscribe(maxlen=10_000_000)  # offline: keep everything
    engine.run()
    engine.bus.close()
    while (msg := sub.get(timeout=0)) is not None:
        if msg.type == "event":
            events.append(msg)
    return events, list(engine.summaries.values())


def plot_timeline(events: list[EmotionEvent], labels: list[str], path: Path, title: str,
                  duration_s: float) -> Path:
    """Emotion over time: per-class probabilities (stacked, product colours) and the label strip."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from .labels import COLORS

    fig, (ax, strip) = plt.subplots(2, 1, figsize=(12, 4.5), sharex=True,
                                    gridspec_kw={"height_ratios": [4, 1]})
    if events:
        t = np.array([(e.t_start + e.t_end) / 2 for e in events])
        p = np.array([[e.probs[lbl] for lbl in labels] for e in events])
        ax.stackplot(t, p.T, colors=[COLORS[lbl] for lbl in labels], labels=labels, alpha=0.9)
        for e in events:
            strip.axvspan(e.t_start, e.t_end, ymin=0.1, ymax=0.9, color=COLORS[e.label], alpha=0.35, lw=0)
    ax.set_xlim(0, max(duration_s, 1e-3))
    ax.set_ylim(0, 1)
    ax.set_ylabel("probability")
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    strip.set_yticks([])
    strip.set_xlabel("time (s)")
    strip.set_ylabel("label")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path

"""Dashboard redraw rate and UI-thread CPU while a recording is replayed at real-time pace.

The real dashboard (offscreen Qt unless QT_QPA_PLATFORM says otherwise) is fed by the real
engine (FileSource at real-time pace -> engine -> classifier -> bus -> bounded subscription
-> QTimer pump at 30 Hz). Measured over `--seconds` after a warm-up:

Measured after `--warmup` seconds of replay (default 45 s, so a 60 s trace is nearly full:
the cost of a frame grows with the data in view):

- fps: paint events of the trace plot's viewport per second (frames really drawn);
- UI CPU: CPU time of the UI (main) thread, from time.thread_time(), as % of one core;
  the engine and classifier threads run in the same process but are not counted.

Baseline, same run: an idle Qt event loop with the same 30 Hz timer and an empty window.
Targets: >= 20 fps and <= 15 % of one core.

    .venv/bin/python bench/bench_ui.py [--seconds 20] [--model DIR] [--input FILE] [--json OUT]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from common import DEFAULT_MODEL, ROOT, load_classifier, machine_line, write_json  # noqa: E402

TARGET_FPS = 20.0
TARGET_CPU = 15.0


def run_for(app, seconds: float, counter=None) -> tuple[float, float, int]:
    """Run the Qt loop for `seconds`; (wall s, UI-thread CPU s, paints counted)."""
    from PyQt6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    p0 = counter.count if counter else 0
    c0, w0 = time.thread_time(), time.monotonic()
    loop.exec()
    return time.monotonic() - w0, time.thread_time() - c0, (counter.count - p0) if counter else 0


def baseline(app, seconds: float) -> dict:
    """An idle loop: an empty window and a 30 Hz timer that does nothing."""
    from PyQt6.QtCore import Qt, QTimer
    from PyQt6.QtWidgets import QWidget

    w = QWidget()
    w.resize(1180, 620)
    w.show()
    ticks = [0]
    t = QTimer()
    t.setTimerType(Qt.TimerType.PreciseTimer)
    t.setInterval(33)
    t.timeout.connect(lambda: ticks.__setitem__(0, ticks[0] + 1))
    t.start()
    run_for(app, 0.5)
    ticks[0] = 0
    wall, cpu, _ = run_for(app, seconds)
    t.stop()
    w.close()
    return {"wall_s": wall, "cpu_pct": 100.0 * cpu / wall, "timer_hz": ticks[0] / wall}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--warmup", type=float, default=45.0,
                    help="seconds of replay before measuring, so the trace view is (nearly) full")
    ap.add_argument("--baseline-seconds", type=float, default=5.0)
    ap.add_argument("--model", default=str(DEFAULT_MODEL))
    ap.add_argument("--input", default=str(ROOT / "assets" / "demo_call.wav"),
                    help="recording to replay at real-time pace (default: the demo call)")
    ap.add_argument("--history", type=float, default=60.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json")
    args = ap.parse_args()

    from ser_live.audio.sources import FileSource
    from ser_live.engine import Engine
    from ser_live.ui.app import make_model, qt_app
    from ser_live.ui.bridge import EngineController, MessagePump
    from ser_live.ui.dashboard import DashboardWindow

    clf = load_classifier(args.model, args.threads)
    app = qt_app()
    print(f"{machine_line()}  platform: {app.platformName()}")
    base = baseline(app, args.baseline_seconds)

    engine = Engine([FileSource(args.input, realtime=True)], clf)
    model = make_model(clf.labels, argparse.Namespace(history=args.history))
    ctl = EngineController(engine, model)
    win = DashboardWindow(model, ctl, source_name=Path(args.input).name)
    pump = MessagePump(ctl, model, [win], controller=ctl)
    ctl.start()
    pump.start()
    win.show()
    run_for(app, args.warmup)
    t0 = pump.ticks
    wall, cpu, paints = run_for(app, args.seconds, win.paints)
    ticks = pump.ticks - t0
    pump.stop()
    win.close()
    ctl.shutdown()
    if ctl.error_text():
        sys.exit(ctl.error_text())

    fps = paints / wall
    cpu_pct = 100.0 * cpu / wall
    st = model.current
    res = {"seconds": wall, "fps": fps, "pump_hz": ticks / wall, "ui_cpu_pct": cpu_pct,
           "ui_cpu_ms_per_frame": 1000.0 * cpu / max(1, paints),
           "events": len(model.events), "stream_s": st.clock if st else 0.0,
           "baseline": base, "ratio_cpu_vs_idle_loop": cpu_pct / max(1e-6, base["cpu_pct"]),
           "target": {"fps_min": TARGET_FPS, "cpu_pct_max": TARGET_CPU},
           "pass": fps >= TARGET_FPS and cpu_pct <= TARGET_CPU}
    print(f"replayed {res['stream_s']:.1f} s of {Path(args.input).name}: {res['events']} events, "
          f"history {args.history:.0f} s")
    print(f"redraw: {fps:.1f} fps (pump {res['pump_hz']:.1f} Hz)   target >= {TARGET_FPS:.0f} fps")
    print(f"UI thread CPU: {cpu_pct:.1f} % of one core ({res['ui_cpu_ms_per_frame']:.2f} ms per frame)"
          f"   target <= {TARGET_CPU:.0f} %")
    print(f"baseline (idle loop, same 30 Hz timer): {base['cpu_pct']:.2f} % of one core, "
          f"timer {base['timer_hz']:.1f} Hz;  ratio {res['ratio_cpu_vs_idle_loop']:.1f}x")
    print("PASS" if res["pass"] else "FAIL")
    write_json(args.json, res)
    return 0 if res["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())

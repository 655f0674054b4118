"""Qt objects die on the GUI thread. CPython collects reference cycles on whichever thread
crosses the allocation threshold, and pyqtgraph's plots (and our windows) are cycles: a view
the GUI thread has dropped was destroyed by another thread (the engine's, a websocket
client's) while the GUI thread painted, and Qt crashed (a `view.grab()` segfault here).

The product is run in a subprocess, so the test suite's own garbage-collection guard
(conftest) does not hide a product without one."""
from __future__ import annotations

import json
import subprocess
import sys

from live_fixtures import cli_env

# A thread that allocates while the GUI thread renders screenshots, with thresholds low enough
# that it trips the collector all the time; each dashboard records the thread that
# destroyed it.
SCRIPT = r"""
import gc, json, sys, threading, time, weakref
from pathlib import Path
from ser_live.ui import app, dashboard

died = []
class Watched(dashboard.DashboardWindow):
    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        weakref.finalize(self, lambda: died.append(threading.current_thread().name))
dashboard.DashboardWindow = Watched

stop = threading.Event()
def churn():  # cycles that die young, and containers that live on, so full collections come too
    keep = []
    while not stop.is_set():
        for _ in range(200):
            a = []
            a.append(a)
        keep.append([[] for _ in range(50)])
        time.sleep(0.001)

gc.set_threshold(50, 2, 2)
t = threading.Thread(target=churn, name="churn")
t.start()
for k in range(int(sys.argv[2])):
    model = app.make_model(["angry", "happy", "neutral"], None)
    model.feed({"type": "event", "stream": "s", "t_start": 0.0, "t_end": 2.0, "label": "angry",
                "confidence": 0.8, "probs": {"angry": 0.8, "happy": 0.1, "neutral": 0.1}})
    app.render_screenshot(model, Path(sys.argv[1]) / f"{k}.png")
    del model
    time.sleep(0.2)  # the churn thread's turn to collect
stop.set()
t.join()
gc.collect()
print(json.dumps(died))
"""


def test_dropped_windows_are_destroyed_on_the_gui_thread(tmp_path) -> None:
    n = 4
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), str(n)], capture_output=True,
                          text=True, timeout=120, env=cli_env(QT_QPA_PLATFORM="offscreen"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    died = json.loads(proc.stdout.strip().splitlines()[-1])
    assert died == ["MainThread"] * n
    assert all((tmp_path / f"{k}.png").stat().st_size > 1000 for k in range(n))

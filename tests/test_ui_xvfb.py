"""The dashboard command on a real X server (Xvfb, Qt's xcb platform): replay a recording
through the engine and render the dashboard and the overlay to PNG, as the README
screenshots are made."""
from __future__ import annotations

import json
import select
import shutil
import subprocess
import sys
import tempfile

import pytest

from live_fixtures import SER_LIVE, cli_env, scene, tiny_model_dir, utterances  # noqa: F401
from ser_live.labels import COLORS

XVFB = shutil.which("Xvfb")


@pytest.fixture
def x_display():
    """A private Xvfb, started with -displayfd so it names its display only once it accepts
    connections, and with -noreset: by default an X server resets when its last client
    leaves, and a client that connects during the reset is refused ("could not connect to
    display"), which failed this test now and then, both here and under `xvfb-run`."""
    log = tempfile.TemporaryFile("w+")  # a file, not a pipe: Xvfb's warnings cannot block it
    proc = subprocess.Popen([XVFB, "-displayfd", "1", "-screen", "0", "1280x800x24", "-nolisten", "tcp",
                             "-noreset"],
                            stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        # a bounded wait: a server that neither names a display nor exits must not hang CI
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        number = proc.stdout.readline().strip() if ready else ""
        log.seek(0)
        assert number.isdigit(), f"Xvfb did not start: {log.read()}"
        yield f":{number}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def dashboard_command() -> list[str]:
    """`ser-live dashboard` once the CLI has it, else the same command via the module."""
    probe = subprocess.run([str(SER_LIVE), "dashboard", "--help"], capture_output=True, timeout=60)
    return ([str(SER_LIVE), "dashboard"] if probe.returncode == 0
            else [sys.executable, "-m", "ser_live.ui.app", "dashboard"])


def count_color(img, hex_color: str) -> int:
    """Pixels of exactly this colour (the badge is a flat fill of the emotion's colour)."""
    import numpy as np
    from PyQt6.QtGui import QImage

    img = img.convertToFormat(QImage.Format.Format_RGB32)
    ptr = img.constBits()
    ptr.setsize(img.sizeInBytes())
    px = np.frombuffer(ptr, np.uint32).reshape(img.height(), img.bytesPerLine() // 4)[:, :img.width()]
    rgb = int(hex_color[1:], 16)
    return int(np.count_nonzero((px & 0xFFFFFF) == rgb))


@pytest.mark.skipif(XVFB is None, reason="Xvfb is not installed (apt-get install xvfb)")
def test_dashboard_and_overlay_screenshots_under_xvfb(qapp, x_display, scene, tiny_model_dir, tmp_path) -> None:  # noqa: F811
    from PyQt6.QtGui import QImage

    cmd = dashboard_command()
    common = ["--replay", str(scene.path), "--model", str(tiny_model_dir), "--device", "cpu",
              "--history", "30"]
    dash, over = tmp_path / "dash.png", tmp_path / "overlay.png"
    script = (" ".join(map(str, [*cmd, *common, "--screenshot", dash])) + " && "
              + " ".join(map(str, [*cmd, *common, "--screenshot", over, "--overlay"])))
    # HOME: no settings of the user's
    env = cli_env(QT_QPA_PLATFORM="xcb", HOME=str(tmp_path), DISPLAY=x_display)
    env.pop("XAUTHORITY", None)
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    reports = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert [r["overlay"] for r in reports] == [False, True], proc.stdout
    for r, png, (w, h) in zip(reports, (dash, over), ((1180, 620), (270, 124))):
        assert r["platform"] == "xcb" and r["screenshot"] == str(png)
        assert r["events"] > 0 and r["label"] in COLORS
        img = QImage(str(png))
        assert (img.width(), img.height()) == (w, h)
        # the current emotion's badge is drawn in its product colour
        assert count_color(img, COLORS[r["label"]]) > (2000 if w > 500 else 300), r

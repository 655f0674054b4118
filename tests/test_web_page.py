"""The supervisor page in a real headless Chromium (Debian's `chromium` + `chromium-driver`,
driven by Selenium): it connects, shows a stream fed by the real engine from a recorded file,
updates as events arrive, sorts the stream that needs attention first and raises the alert.

Set SER_LIVE_SCREENSHOTS=DIR to keep the screenshots (the README's come from here:
SER_LIVE_SCREENSHOTS=assets/screenshots).
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from live_fixtures import classifier, scene, tiny_model_dir, utterances  # noqa: F401  (fixtures)

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
                                reason="needs /usr/bin/chromium and /usr/bin/chromedriver "
                                       "(apt-get install chromium chromium-driver; scripts/setup.sh does)")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e .[dev])")

from ser_live.bus import EventBus  # noqa: E402
from ser_live.events import EmotionEvent, Status, iso_now  # noqa: E402
from ser_live.labels import LABELS  # noqa: E402
from ser_live.sinks.ws import Broadcaster, WsConfig  # noqa: E402


@pytest.fixture(scope="module")
def browser():
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="ser-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--disable-dev-shm-usage", "--window-size=1280,900", "--hide-scrollbars",
              f"--user-data-dir={profile}"):
        opts.add_argument(a)
    drv = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    drv.set_page_load_timeout(20)
    try:
        yield drv
    finally:
        drv.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_for(drv, script: str, timeout: float = 15.0, what: str = ""):
    """Poll a JS expression until it is truthy; its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = drv.execute_script("return " + script)
        if value:
            return value
        time.sleep(0.1)
    logs = drv.execute_script("return document.body.innerText")
    raise AssertionError(f"timed out waiting for {what or script}\n--- page text\n{logs}")


def tile(drv, stream: str) -> dict:
    return drv.execute_script(
        "const t = document.querySelector(`.tile[data-stream='${arguments[0]}']`);"
        "return t && {label: t.dataset.label, events: +t.dataset.events, alert: t.dataset.alert === '1',"
        " ended: t.classList.contains('ended'), text: t.innerText, index: [...t.parentNode.children].indexOf(t)}",
        stream)


def emit(bus: EventBus, stream: str, t0: float, label: str, conf: float = 0.7) -> None:
    p = np.full(len(LABELS), (1 - conf) / (len(LABELS) - 1))
    p[LABELS.index(label)] = conf
    bus.publish(EmotionEvent.from_probs(stream, t0, t0 + 2.0, LABELS, p, 12.0))
    bus.publish(Status(stream=stream, t=t0 + 2.0, time=iso_now(), speech=True, level_db=-18.0, overruns=0))


def screenshot(drv, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    drv.save_screenshot(str(path))
    keep = os.environ.get("SER_LIVE_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / name)
    return path


def test_supervisor_page_live(browser, classifier, scene, tmp_path):  # noqa: F811
    from ser_live.audio.sources import FileSource
    from ser_live.engine import Engine

    bus = EventBus()
    with Broadcaster(WsConfig(port=0, heartbeat_s=0.5), model={"name": "tiny", "labels": list(LABELS)}) as b:
        b.attach(bus, ["agent-1", "agent-2", "agent-3", "agent-4"])
        browser.get(b.url)
        wait_for(browser, "document.body.dataset.state === 'open'", what="the websocket to open")
        wait_for(browser, "document.querySelectorAll('.tile').length === 4", what="four tiles")
        assert tile(browser, "agent-1")["label"] == "" and "waiting for speech" in tile(browser, "agent-1")["text"]

        # a stream fed by the real engine from a recorded file
        engine = Engine([FileSource(scene.path, name="call-recording")], classifier)
        b.attach(engine.bus, engine.streams, model="tiny")
        engine.run()
        n = engine.summaries["call-recording"].events
        wait_for(browser, f"(document.querySelector(\".tile[data-stream='call-recording']\") || {{dataset: {{}}}})"
                          f".dataset.events == {n}", what=f"{n} events on the recorded stream")
        rec = tile(browser, "call-recording")
        assert rec["label"] in LABELS and rec["ended"], rec

        # updates as events arrive; sustained negative emotion raises the alert and sorts first
        for k in range(8):
            emit(bus, "agent-1", k * 1.0, ["happy", "neutral", "calm"][k % 3])
            emit(bus, "agent-3", k * 1.0, "neutral" if k % 2 else "sad")
            emit(bus, "agent-4", k * 1.0, ["calm", "surprised"][k % 2])
        wait_for(browser, "document.querySelector(\".tile[data-stream='agent-1']\")?.dataset.events == 8")
        assert tile(browser, "agent-1")["label"] == "neutral" and tile(browser, "agent-4")["label"] == "surprised"
        for k in range(16):  # 0..17 s of angry/sad speech on agent-2
            emit(bus, "agent-2", k * 1.0, "angry" if k % 3 else "sad", 0.8)
            time.sleep(0.02)
        wait_for(browser, "document.querySelector(\".tile[data-stream='agent-2']\")?.dataset.alert === '1'",
                 what="the alert on agent-2")
        a2 = tile(browser, "agent-2")
        assert a2["index"] == 0, "the alerting stream is not first"
        assert "negative for 17 s" in a2["text"], a2["text"]
        banner = browser.execute_script("const a = document.getElementById('alerts'); return !a.hidden && a.innerText")
        assert banner and "agent-2" in banner and "negative" in banner
        assert browser.title.startswith("(1)")
        assert not any(tile(browser, s)["alert"] for s in ("agent-1", "agent-3", "agent-4", "call-recording"))
        time.sleep(0.3)
        shot = screenshot(browser, tmp_path, "supervisor.png")
        assert shot.stat().st_size > 10_000

        # the alert ends when the stream turns non-negative
        emit(bus, "agent-2", 16.5, "calm", 0.9)
        wait_for(browser, "document.querySelector(\".tile[data-stream='agent-2']\")?.dataset.alert === '0'",
                 what="the alert to clear")
        assert browser.execute_script("return document.getElementById('alerts').hidden")


def test_page_with_token(browser, tmp_path):
    bus = EventBus()
    with Broadcaster(WsConfig(port=0, token="letmein", auth_timeout_s=1.0)) as b:
        b.attach(bus, ["desk"])
        browser.get(b.url)  # no token: the page asks for one
        wait_for(browser, "!document.getElementById('auth').hidden", what="the token form")
        screenshot(browser, tmp_path, "supervisor-token.png")
        browser.execute_script("document.getElementById('token').value = 'letmein';"
                               "document.getElementById('auth').requestSubmit()")
        wait_for(browser, "document.body.dataset.state === 'open'", what="connection with the token")
        emit(bus, "desk", 0.0, "happy")
        wait_for(browser, "document.querySelector(\".tile[data-stream='desk']\")?.dataset.label === 'happy'")
        browser.execute_script("sessionStorage.clear()")

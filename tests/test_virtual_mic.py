"""End to end through a real (virtual) microphone: PulseAudio null sink -> monitor source ->
ALSA pulse plugin -> PortAudio -> `ser-live monitor`, with speech played by `paplay`.

Needs pulseaudio and pulseaudio-utils (skipped without them, as on a machine set up without
audio). With PulseAudio running, PortAudio must see an input: if it does not, that is a
set-up bug (libasound2-plugins or libportaudio2 missing) and the test fails saying so.
"""
from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

import synth
from live_fixtures import (SER_LIVE, TOL, cli_env, compose, overlaps, run_cli,  # noqa: F401
                           tiny_model_dir, utterances, virtual_mic)

from ser_live.events import epoch_of

#: How much later than the wall-clock estimate the audio may really reach the stream: paplay
#: start-up and PulseAudio's buffers on the way in, capture buffering on the way out (the
#: estimate can only be early, never late).
ALIGN = 0.25


class LineReader:
    """Collects a subprocess's stdout lines on a thread, so the test never blocks on a pipe."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._t = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self._t.start()

    def _run(self, stream) -> None:
        for line in stream:
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()

    def wait_for(self, pred, timeout: float) -> bool:
        end = time.monotonic() + timeout
        with self._cond:
            while not any(pred(ln) for ln in self.lines):
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def join(self, timeout: float) -> None:
        self._t.join(timeout)


def test_portaudio_sees_the_virtual_microphone(virtual_mic: dict) -> None:
    r = run_cli("devices", env=cli_env(**virtual_mic), timeout=60)
    names = r.stdout.lower()
    if r.returncode != 0 or not ("pulse" in names or "default" in names):
        pytest.fail("PulseAudio runs with the virtual microphone, but PortAudio lists no 'pulse' or "
                    "'default' input: the ALSA pulse plugin (libasound2-plugins) or libportaudio2 is "
                    f"missing, or sounddevice was imported before PulseAudio started.\n{r}")


def test_monitor_hears_speech_played_into_the_virtual_microphone(
        virtual_mic: dict, tiny_model_dir: Path, utterances, tmp_path: Path) -> None:
    env = cli_env(**virtual_mic)
    a, b = utterances
    scene = compose([1.5, a, 2.5, b, 1.5])
    wav = synth.write_wav(tmp_path / "played.wav", scene.audio)
    err_path = tmp_path / "monitor.stderr"
    # Ctrl-C must reach the monitor even if these tests run with SIGINT ignored (a child
    # inherits "ignored", while a handler of ours becomes the default in the child)
    ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    if ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with err_path.open("w") as err:
            proc = subprocess.Popen(
                [str(SER_LIVE), "monitor", "--headless", "--format", "jsonl", "--model", str(tiny_model_dir)],
                stdout=subprocess.PIPE, stderr=err, text=True, env=env, cwd=tmp_path)
    finally:
        if ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    reader = LineReader(proc.stdout)
    try:
        capturing = reader.wait_for(lambda ln: '"status"' in ln, timeout=90)
        assert capturing, f"monitor never reported capturing:\n{err_path.read_text()}"
        time.sleep(1.0)                         # a moment of the microphone's own silence first
        t_play = time.time()
        played = subprocess.run(["paplay", "--device=vsink", str(wav)], env=env, capture_output=True,
                                text=True, timeout=60)
        assert played.returncode == 0, played.stderr
        time.sleep(1.0)                         # the end of the last utterance: hangover, last windows
        proc.send_signal(signal.SIGINT)         # Ctrl-C: a clean stop, with the summary
        rc = proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(5)
    stderr = err_path.read_text()
    assert rc == 0, f"monitor exited {rc} on Ctrl-C:\n{stderr}"
    msgs = [json.loads(ln) for ln in reader.lines if ln.strip()]
    statuses = [m for m in msgs if m["type"] == "status"]
    events = [m for m in msgs if m["type"] == "event"]
    summaries = [m for m in msgs if m["type"] == "summary"]

    # stream time -> time in the played file: stream sample 0 was captured at (at latest)
    # the earliest `time - t` of the statuses; playback started at t_play
    stream0 = min(epoch_of(s["time"]) - s["t"] for s in statuses)
    offset = t_play - stream0
    assert 0.9 < offset < 30, f"playback started {offset:.2f} s into the stream"
    shown = [(round(e["t_start"] - offset, 2), round(e["t_end"] - offset, 2)) for e in events]
    detail = f"speech at {scene.intervals} s of the file; events at {shown} (offset {offset:.3f} s)\n{stderr}"

    print(detail)  # shown with -s, or when the test fails
    assert events, f"no events at all:\n{detail}"
    for (t0, t1) in shown:
        hits = [iv for iv in scene.intervals if overlaps((t0, t1), iv, tol=ALIGN)]
        assert len(hits) == 1, f"event {t0}-{t1} s is not on one utterance: {detail}"
        (s0, s1), = hits
        assert s0 - TOL <= t0 and t1 <= s1 + TOL + ALIGN, f"event {t0}-{t1} s beyond its speech: {detail}"
    for s0, s1 in scene.intervals:
        mine = [(t0, t1) for t0, t1 in shown if overlaps((t0, t1), (s0, s1), tol=ALIGN)]
        assert mine, f"no event for the speech at {s0:.2f}-{s1:.2f} s: {detail}"
        assert min(t0 for t0, _ in mine) <= s0 + 0.05 + ALIGN, f"onset clipped: {detail}"
        assert max(t1 for _, t1 in mine) >= s1 - 0.05, f"end clipped: {detail}"

    # statuses: steady, silent (digital zero from the null sink) before playback, no overruns
    assert all(s["stream"] == "mic" and s["overruns"] == 0 and s["error"] is None for s in statuses), statuses
    ts = [s["t"] for s in statuses]
    assert ts == sorted(ts) and max(b - a for a, b in zip(ts, ts[1:])) < 1.0
    before = [s for s in statuses if s["t"] < offset - 0.1]
    assert before and all(not s["speech"] and s["level_db"] < -90 for s in before), before
    assert any(s["speech"] for s in statuses)

    (summary,) = summaries
    assert msgs[-1] is summary and summary["stream"] == "mic"
    assert summary["overruns"] == 0 and summary["events"] == len(events)
    assert summary["duration_s"] >= offset + scene.duration

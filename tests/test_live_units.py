"""Units of the live engine: ring buffer, speech gate, windower, smoother, summaries, event bus,
event JSON."""
from __future__ import annotations

import contextlib
import errno
import io
import os
import json
import threading
import time

import numpy as np
import pytest

from live_fixtures import SR, TOL, scene, utterances  # noqa: F401  (fixtures: scene needs utterances)
from ser_live.audio.ringbuffer import RingBuffer
from ser_live.bus import EventBus
from ser_live.events import EmotionEvent, Smoother, Status, SummaryBuilder, epoch_of
from ser_live.labels import LABELS
from ser_live.sinks.jsonl import JsonlSink, TextSink
from ser_live.vad import SpeechEnd, SpeechGate, SpeechPiece
from ser_live.windows import WINDOW, Windower, cut_window, window_starts

HOP = SR // 2


def frames(start: int, n: int, channels: int = 1) -> np.ndarray:
    """Rows numbered start..start+n-1 (channel c holds number + c/10), so misplaced data shows."""
    idx = np.arange(start, start + n, dtype=np.float32)[:, None]
    return idx + np.arange(channels, dtype=np.float32)[None, :] / 10


# --- ring buffer -----------------------------------------------------------------------

def test_ring_buffer_wraps_around_in_order() -> None:
    rb = RingBuffer(10, channels=2)
    assert rb.write(frames(0, 7, 2)) and rb.available == 7
    np.testing.assert_array_equal(rb.read(5), frames(0, 5, 2))
    assert rb.write(frames(7, 6, 2))          # crosses the end of the storage
    assert rb.available == 8
    np.testing.assert_array_equal(rb.read(3), frames(5, 3, 2))
    np.testing.assert_array_equal(rb.read(), frames(8, 5, 2))
    assert rb.available == 0 and rb.read().shape == (0, 2)
    assert rb.overruns == 0 and rb.dropped_frames == 0
    for k in range(20):                      # many laps, odd block sizes
        assert rb.write(frames(100 * k, 7, 2))
        np.testing.assert_array_equal(rb.read(), frames(100 * k, 7, 2))


def test_ring_buffer_overrun_drops_the_new_block_only() -> None:
    rb = RingBuffer(8)
    assert rb.write(frames(0, 6))
    assert rb.write(frames(6, 3)) is False    # does not fit: dropped whole, counted
    assert rb.overruns == 1 and rb.dropped_frames == 3 and rb.available == 6
    assert rb.write(frames(9, 2))              # exactly fills it
    assert rb.write(frames(11, 1)) is False
    assert rb.overruns == 2 and rb.dropped_frames == 4
    got = rb.read()
    np.testing.assert_array_equal(got, np.concatenate([frames(0, 6), frames(9, 2)]))
    assert rb.write(frames(20, 8))            # room again after the read
    np.testing.assert_array_equal(rb.read(), frames(20, 8))


def test_ring_buffer_block_larger_than_capacity_is_an_overrun() -> None:
    rb = RingBuffer(4)
    assert rb.write(frames(0, 5)) is False and rb.overruns == 1 and rb.available == 0


def test_ring_buffer_threads_never_corrupt_unread_data() -> None:
    """A fast producer and a slow consumer: what arrives is whole blocks, in order, exactly;
    what is missing is exactly the blocks counted as dropped."""
    rb, block, n_blocks = RingBuffer(256), 32, 3000
    got: list[np.ndarray] = []
    done = threading.Event()

    def consume() -> None:
        while not done.is_set() or rb.available:
            got.append(rb.read(100))
            time.sleep(0.0002)

    t = threading.Thread(target=consume)
    t.start()
    for k in range(n_blocks):
        rb.write(frames(k * block, block))
    done.set()
    t.join(10)
    data = np.concatenate(got)[:, 0].astype(np.int64)
    assert len(data) % block == 0
    blocks = data.reshape(-1, block)
    assert (blocks[:, 0] % block == 0).all()
    assert (np.diff(blocks, axis=1) == 1).all()             # each block whole and unchanged
    assert (np.diff(blocks[:, 0]) > 0).all()               # blocks in order, none repeated
    assert rb.overruns > 0                                  # the slow consumer did fall behind
    assert len(blocks) + rb.overruns == n_blocks
    assert rb.dropped_frames == rb.overruns * block


# --- speech gate -----------------------------------------------------------------------

def run_gate(gate: SpeechGate, audio: np.ndarray, chunks=(320, 701, 4000, 13)) -> list[tuple[int, int, np.ndarray]]:
    """Feed `audio` in irregular chunks; (start, end, audio) per utterance. Checks that the
    pieces of an utterance are contiguous and end exactly at its SpeechEnd."""
    segs: list = []
    pos, k = 0, 0
    while pos < len(audio):
        n = chunks[k % len(chunks)]
        out = gate.push(audio[pos:pos + n])
        segs += out.segments
        pos, k = pos + n, k + 1
    segs += gate.flush().segments
    utts, cur = [], None
    for s in segs:
        if isinstance(s, SpeechPiece):
            if cur is None:
                cur = [s.start, [s.audio]]
            else:
                assert s.start == cur[0] + sum(len(a) for a in cur[1]), "pieces are not contiguous"
                cur[1].append(s.audio)
        else:
            assert isinstance(s, SpeechEnd) and cur is not None
            a = np.concatenate(cur[1])
            assert s.end == cur[0] + len(a), "the utterance's audio runs past its SpeechEnd"
            utts.append((cur[0], s.end, a))
            cur = None
    assert cur is None, "an utterance was left open after flush"
    return utts


@pytest.mark.parametrize("noise", [0.0, 1e-3], ids=["digital-silence", "noise-60dB"])
def test_speech_gate_finds_each_utterance(scene, noise: float) -> None:
    audio = scene.audio
    if noise:
        audio = audio + noise * np.random.default_rng(3).standard_normal(len(audio)).astype(np.float32)
    utts = run_gate(SpeechGate(), audio)
    assert len(utts) == len(scene.intervals), [(a / SR, b / SR) for a, b, _ in utts]
    for (start, end, a), (s0, s1) in zip(utts, scene.intervals):
        t0, t1 = start / SR, end / SR
        assert s0 - TOL <= t0 <= s0 + 0.03, f"utterance at {s0:.2f}-{s1:.2f} s starts at {t0:.2f} s"
        assert s1 - 0.03 <= t1 <= s1 + TOL, f"utterance at {s0:.2f}-{s1:.2f} s ends at {t1:.2f} s"
        np.testing.assert_array_equal(a, audio[start:end])  # the stream's own samples, unchanged


def test_speech_gate_reports_state_and_level(scene) -> None:
    gate = SpeechGate()
    (s0, s1) = scene.intervals[0]
    quiet = gate.push(scene.audio[:int((s0 - 0.5) * SR)])
    assert not quiet.speech and not quiet.segments and quiet.level_db == -120.0
    loud = gate.push(scene.audio[int((s0 - 0.5) * SR):int((s0 + 1.0) * SR)])
    assert loud.speech and loud.segments and -30 < loud.level_db < 0


@pytest.mark.parametrize("level", [0.0, 3e-4, 1e-3, 3e-3], ids=["zeros", "-70dB", "-60dB", "-50dB"])
def test_speech_gate_ignores_silence_and_low_noise(level: float) -> None:
    audio = (level * np.random.default_rng(7).standard_normal(5 * SR)).astype(np.float32)
    gate = SpeechGate()
    assert run_gate(gate, audio) == []
    assert not gate.triggered


def test_speech_gate_reset_starts_over(scene) -> None:
    fresh = run_gate(SpeechGate(), scene.audio)
    gate = SpeechGate()
    s0, _ = scene.intervals[0]
    out = gate.push(scene.audio[:int((s0 + 1.0) * SR)])       # stop mid-utterance
    assert gate.triggered and out.segments
    gate.reset()
    assert not gate.triggered
    again = run_gate(gate, scene.audio)                        # stream time starts at 0 again
    assert len(again) == len(fresh)
    for (a, b, _), (fa, fb, _) in zip(again, fresh):
        assert abs(a - fa) <= 2 * gate.frame and abs(b - fb) <= 2 * gate.frame


def test_speech_gate_rejects_bad_settings() -> None:
    with pytest.raises(ValueError):
        SpeechGate(frame_ms=25)
    with pytest.raises(ValueError):
        SpeechGate(aggressiveness=4)


# --- windower --------------------------------------------------------------------------

def ramp(n: int) -> np.ndarray:
    return (np.arange(1, n + 1) / (n + 1)).astype(np.float32)


def feed(w: Windower, start: int, audio: np.ndarray, chunk: int = 480) -> list:
    out = []
    for i in range(0, len(audio), chunk):
        got = w.push(start + i, audio[i:i + chunk], now=float(i))
        for win in got:  # a window is out as soon as its last sample has arrived
            assert win.end <= start + i + len(audio[i:i + chunk])
            assert win.end > start + i - chunk
        out += got
    return out


@pytest.mark.parametrize("n", [int(5.3 * SR), int(5.1 * SR), 3 * SR, WINDOW + 1, 54321])
def test_windower_long_speech_hops_and_aligns_the_last_window(n: int) -> None:
    s0, audio = 12345, ramp(n)
    w = Windower("a", hop_s=0.5)
    wins = feed(w, s0, audio)
    wins += w.end(s0 + n, now=1e9)
    expected = [s0 + s for s in window_starts(n, HOP)]  # the offline rule, as offline
    assert [x.start for x in wins] == expected
    for x in wins:
        assert x.stream == "a" and x.end - x.start == WINDOW and x.audio.dtype == np.float32
        np.testing.assert_array_equal(x.audio, audio[x.start - s0:x.end - s0])
    last_regular = list(range(0, n - WINDOW + 1, HOP))[-1]
    tail = n - (last_regular + WINDOW)
    if tail >= HOP // 2:
        assert wins[-1].end == s0 + n                       # an extra window aligned to the end
    else:
        assert wins[-1].start == s0 + last_regular           # the tail is mostly covered already
    assert all(b.start - a.start == HOP for a, b in zip(wins[:-2], wins[1:-1]))


def test_windower_small_tail_gets_no_extra_window() -> None:
    n = WINDOW + HOP + HOP // 2 - 1            # tail of just under half a hop
    w = Windower("a")
    wins = feed(w, 0, ramp(n)) + w.end(n, now=0.0)
    assert [x.start for x in wins] == [0, HOP]


@pytest.mark.parametrize("seconds", [0.25, 0.8, 1.0, 1.99])
def test_windower_short_utterance_is_centred_and_padded(seconds: float) -> None:
    n, s0 = int(seconds * SR), 777
    audio = ramp(n)
    w = Windower("b", min_speech_s=0.25)
    assert feed(w, s0, audio) == []           # nothing until the utterance ends
    (win,) = w.end(s0 + n, now=5.0)
    assert (win.start, win.end) == (s0, s0 + n)  # real audio only, padding excluded
    np.testing.assert_array_equal(win.audio, cut_window(audio, -((WINDOW - n) // 2)))
    lead = (WINDOW - n) // 2
    assert not win.audio[:lead].any() and not win.audio[lead + n:].any()
    assert win.ready_at == 5.0


def test_windower_min_speech_and_reuse() -> None:
    w = Windower("c", min_speech_s=0.25)
    feed(w, 0, ramp(int(0.2 * SR)))
    assert w.end(int(0.2 * SR), now=0.0) == []          # a click, not speech
    feed(w, SR, ramp(int(0.3 * SR)))                    # the next utterance starts over
    (win,) = w.end(SR + int(0.3 * SR), now=0.0)
    assert (win.start, win.end) == (SR, SR + int(0.3 * SR))


def test_windower_end_is_clipped_to_the_audio_it_has() -> None:
    w = Windower("d")
    feed(w, 0, ramp(SR))
    (win,) = w.end(5 * SR, now=0.0)
    assert (win.start, win.end) == (0, SR)


# --- smoother and summaries ------------------------------------------------------------

def onehot(label: str, p: float = 0.9) -> np.ndarray:
    v = np.full(len(LABELS), (1 - p) / (len(LABELS) - 1))
    v[LABELS.index(label)] = p
    return v


def test_smoother_ema_and_reset_after_silence() -> None:
    a, b = onehot("angry"), onehot("happy")
    s = Smoother(alpha=0.5, reset_after_s=5.0)
    np.testing.assert_allclose(s.update(a, 0.0, 2.0), a)
    np.testing.assert_allclose(s.update(b, 0.5, 2.5), 0.5 * a + 0.5 * b)
    np.testing.assert_allclose(s.update(b, 1.0, 3.0), 0.25 * a + 0.75 * b)
    assert s.update(b, 1.5, 3.5).sum() == pytest.approx(1.0)
    np.testing.assert_allclose(s.update(a, 9.0, 11.0), a)   # > 5 s of silence: a new turn
    s.reset()
    np.testing.assert_allclose(s.update(b, 11.5, 13.5), b)
    np.testing.assert_allclose(Smoother(alpha=1.0).update(b, 0, 2), b)


def event(label: str, t0: float, t1: float, stream: str = "s") -> EmotionEvent:
    return EmotionEvent.from_probs(stream, t0, t1, LABELS, onehot(label), 1.0)


def test_summary_shares_and_longest_negative_stretch() -> None:
    sb = SummaryBuilder("s", LABELS)
    for ev in [event("sad", 0.0, 2.0), event("angry", 0.5, 2.5), event("angry", 1.0, 3.0),
               event("neutral", 4.0, 6.0),                                  # breaks the stretch
               event("angry", 10.0, 12.0), event("fearful", 13.5, 15.5),     # 1.5 s gap: one stretch
               event("happy", 20.0, 21.0)]:
        sb.add(ev)
    s = sb.build(duration_s=30.0, overruns=2)
    assert s.events == 7 and s.overruns == 2 and s.duration_s == 30.0
    assert s.speech_s == pytest.approx(3.0 + 2.0 + 2.0 + 2.0 + 1.0)     # overlaps counted once
    assert sum(s.share.values()) == pytest.approx(1.0, abs=1e-3)
    assert list(s.share) == list(LABELS)
    assert s.share["sad"] == pytest.approx(2.0 / 10) and s.share["angry"] == pytest.approx(3.0 / 10)
    assert s.share["happy"] == pytest.approx(0.1)
    assert sum(s.valence3_share.values()) == pytest.approx(1.0, abs=1e-3)
    assert s.valence3_share["negative"] == pytest.approx(0.7, abs=1e-3)
    assert s.longest_negative_s == pytest.approx(5.5)                # 10.0 .. 15.5


def test_empty_summary() -> None:
    s = SummaryBuilder("s", LABELS).build(12.0, 0)
    assert s.events == 0 and s.speech_s == 0 and s.longest_negative_s == 0
    assert set(s.share.values()) == {0.0} and set(s.valence3_share.values()) == {0.0}
    json.dumps(s.to_dict())


# --- event bus -------------------------------------------------------------------------

def test_bus_slow_subscriber_loses_oldest_and_counts() -> None:
    bus = EventBus()
    slow, fast = bus.subscribe(maxlen=3), bus.subscribe(maxlen=1000)
    for i in range(10):
        bus.publish(i)
    assert slow.dropped == 7 and fast.dropped == 0
    assert [slow.get(0) for _ in range(4)] == [7, 8, 9, None]
    assert [fast.get(0) for _ in range(10)] == list(range(10))


def test_bus_publish_never_blocks_on_a_stuck_sink() -> None:
    bus = EventBus()
    release = threading.Event()
    seen: list[int] = []
    sub = bus.attach(lambda m: (release.wait(10), seen.append(m)), maxlen=5, name="stuck")
    fast = bus.subscribe(maxlen=100_000)
    t0 = time.perf_counter()
    for i in range(20_000):
        bus.publish(i)
    assert time.perf_counter() - t0 < 2.0
    assert fast.dropped == 0 and sub.dropped >= 20_000 - 6
    release.set()
    bus.close()
    assert seen[-5:] == list(range(19_995, 20_000))    # the newest survive, in order
    assert len(seen) <= 6


def test_bus_close_drains_attached_sinks() -> None:
    bus = EventBus()
    seen: list[int] = []
    bus.attach(lambda m: (time.sleep(0.002), seen.append(m)), maxlen=1000)
    for i in range(200):
        bus.publish(i)
    bus.close()
    assert seen == list(range(200))
    bus.publish("after close")  # nobody listens any more; must not raise


def test_bus_attach_in_batches() -> None:
    """A batching sink gets what waits at once, up to `batch`, in order and all of it."""
    bus = EventBus()
    first = threading.Event()
    release = threading.Event()
    batches: list[list[int]] = []

    def handler(msgs: list[int]) -> None:
        first.set()
        release.wait(10)
        batches.append(list(msgs))

    bus.attach(handler, maxlen=1000, batch=4)
    bus.publish(0)
    assert first.wait(5)  # the pump holds [0]; the rest queue up behind it
    for i in range(1, 11):
        bus.publish(i)
    release.set()
    bus.close()
    assert [m for b in batches for m in b] == list(range(11))
    assert batches[0] == [0] and [len(b) for b in batches[1:]] == [4, 4, 2]


def test_subscription_get_many() -> None:
    bus = EventBus()
    sub = bus.subscribe()
    for i in range(5):
        bus.publish(i)
    assert sub.get_many(3, 0) == [0, 1, 2] and sub.get_many(10, 0) == [3, 4]
    t0 = time.perf_counter()
    assert sub.get_many(10, 0.05) == [] and time.perf_counter() - t0 >= 0.04  # waited, timed out
    bus.unsubscribe(sub)
    t0 = time.perf_counter()
    assert sub.get_many(10, 5.0) == [] and time.perf_counter() - t0 < 1.0  # closed: no wait


def test_subscription_get_after_close() -> None:
    bus = EventBus()
    sub = bus.subscribe()
    bus.publish("x")
    bus.unsubscribe(sub)
    assert sub.get(0.01) == "x" and sub.get(5.0) is None   # closed and drained: no wait
    bus.publish("y")
    assert sub.get(0) is None


# --- event JSON ------------------------------------------------------------------------

EVENT_KEYS = {"type", "stream", "t_start", "t_end", "time", "label", "confidence", "probs",
              "valence3", "arousal", "valence", "latency_ms"}


def test_event_json() -> None:
    p = onehot("angry", 0.6)
    ev = EmotionEvent.from_probs("mic", 1.23456, 3.23456, LABELS, p, latency_ms=12.3456)
    buf = io.StringIO()
    JsonlSink(buf)(ev)
    line = buf.getvalue()
    assert line.endswith("\n") and line.count("\n") == 1
    d = json.loads(line)
    assert EVENT_KEYS <= set(d) and "smoothed" not in d
    assert d["type"] == "event" and d["stream"] == "mic"
    assert (d["t_start"], d["t_end"]) == (1.235, 3.235)
    assert d["time"].endswith("Z") and abs(time.time() - epoch_of(d["time"])) < 60  # UTC, now
    assert d["label"] == "angry" and d["confidence"] == pytest.approx(0.6)
    assert list(d["probs"]) == list(LABELS) and sum(d["probs"].values()) == pytest.approx(1.0, abs=1e-3)
    assert set(d["valence3"]) == {"negative", "neutral", "positive"}
    assert sum(d["valence3"].values()) == pytest.approx(1.0, abs=1e-3)
    assert -1 <= d["arousal"] <= 1 and -1 <= d["valence"] <= 1 and d["valence"] < 0 < d["arousal"]
    assert d["latency_ms"] == pytest.approx(12.35)


def test_event_follows_smoothed_probabilities() -> None:
    raw, smooth = onehot("happy", 0.5), onehot("sad", 0.7)
    d = EmotionEvent.from_probs("s", 0, 2, LABELS, raw, 1.0, smoothed=smooth).to_dict()
    assert d["label"] == "sad" and d["probs"]["happy"] == 0.5 and d["smoothed"]["sad"] == 0.7
    assert json.loads(json.dumps(d)) == d


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")
def test_line_sinks_keep_a_failed_write_and_report_it_once() -> None:
    """A sink whose file fails (a full disk) keeps the error, tells `on_error` once and drops
    later messages instead of raising on the bus's thread each time."""
    for make in (JsonlSink, TextSink):
        told: list[OSError] = []
        fh = open("/dev/full", "w", encoding="utf-8")
        sink = make(fh, on_error=told.append)
        for k in range(3):
            sink(event("sad", 2 * k, 2 * k + 2))
        assert len(told) == 1 and told[0] is sink.error and sink.error.errno == errno.ENOSPC
        with contextlib.suppress(OSError):  # what the failed flush left in the buffer
            fh.close()


def test_text_summary_names_only_emotions_heard() -> None:
    """The summary line lists the commonest emotions heard, not labels at 0 % to fill three
    places; a stream without speech says so."""
    buf = io.StringIO()
    sink = TextSink(buf)
    sb = SummaryBuilder("s", LABELS)
    for k in range(3):
        sb.add(event("angry", 2 * k, 2 * k + 2))
    sink(sb.build(8.0, 0))
    sink(SummaryBuilder("quiet", LABELS).build(5.0, 0))
    heard, quiet = buf.getvalue().splitlines()
    assert "3 windows; angry 100%; longest negative stretch 6.0 s" in heard and " 0%" not in heard
    assert "[quiet] summary: 5.0 s, speech 0.0 s, 0 windows; no emotion; longest" in quiet


def test_jsonl_sink_filters_types() -> None:
    buf = io.StringIO()
    sink = JsonlSink(buf, types=("event",))
    sink(Status("s", 0.5, "2024-01-01T00:00:00.000Z", False, -120.0, 0))
    sink(event("calm", 0, 2))
    lines = buf.getvalue().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["type"] == "event"

"""The dashboard's Qt-free view model: message dicts in, trace arrays and current state out."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from ser_live.events import EmotionEvent, Status
from ser_live.labels import COLORS, LABELS
from ser_live.ui.model import (MAX_EXTRAPOLATE_S, NEGATIVE_GAP_S, STALE_S, SessionModel,
                               as_dict, color_of)


def event(t_end: float, label: str, p: float = 0.7, stream: str = "call", valence: float = 0.0) -> dict:
    """An event dict as the engine's JSON gives it, `label` with probability `p`."""
    rest = (1.0 - p) / (len(LABELS) - 1)
    probs = {lbl: (p if lbl == label else rest) for lbl in LABELS}
    return {"type": "event", "stream": stream, "t_start": t_end - 2.0, "t_end": t_end,
            "time": "2025-01-01T00:00:00.000Z", "label": label, "confidence": p, "probs": probs,
            "valence3": {"negative": 0.2, "neutral": 0.5, "positive": 0.3}, "arousal": 0.1,
            "valence": valence, "latency_ms": 12.0}


def status(t: float, speech: bool = True, level: float = -20.0, error: str | None = None,
           stream: str = "call") -> dict:
    return {"type": "status", "stream": stream, "t": t, "time": "x", "speech": speech,
            "level_db": level, "overruns": 0, "error": error}


def test_trace_rows_follow_events_and_break_over_silence() -> None:
    m = SessionModel()
    for t, lbl in [(2.0, "happy"), (2.5, "happy"), (3.0, "angry"), (9.0, "sad"), (9.5, "sad")]:
        assert m.feed(event(t, lbl))
    st = m.current
    assert st.stream == "call" and st.events == 5 and m.labels == list(LABELS)
    t, p = st.trace()
    # a NaN row between 3.0 and 9.0 (silence), none elsewhere
    assert np.isnan(t[3]) and np.all(np.isnan(p[3]))
    np.testing.assert_allclose(t[[0, 1, 2, 4, 5]], [2.0, 2.5, 3.0, 9.0, 9.5])
    ang = LABELS.index("angry")
    assert p[2, ang] == pytest.approx(0.7) and p[0, ang] < 0.1
    # `since` keeps one point before the window so the line enters from the left edge
    t2, _ = st.trace(since=8.0)
    np.testing.assert_allclose(t2[~np.isnan(t2)], [3.0, 9.0, 9.5])
    assert st.current["label"] == "sad" and st.current["t_end"] == 9.5
    ts, labs = st.label_trace(since=2.5)
    assert labs == ["happy", "angry", "sad", "sad"] and list(ts) == [2.5, 3.0, 9.0, 9.5]


def test_out_of_order_events_are_kept_sorted() -> None:
    m = SessionModel()
    for t in (1.0, 3.0, 2.0):
        m.feed(event(t, "calm"))
    t, _ = m.current.trace()
    assert list(t) == [1.0, 2.0, 3.0]
    assert m.current.current["t_end"] == 3.0  # the newest stays current


def test_status_drives_input_state_clock_and_banner() -> None:
    m = SessionModel(history_s=30)
    m.feed(status(0.5, speech=False, level=-70.0), wall=100.0)
    st = m.current
    assert (st.speech, st.level_db, m.banner(wall=100.1)) == (False, -70.0, None)
    m.feed(status(1.0, error="input device 'USB' stopped delivering audio; retrying"), wall=101.0)
    assert "stopped delivering audio" in m.banner(wall=101.1)
    # the clock runs on between messages, but never more than MAX_EXTRAPOLATE_S
    assert st.now(wall=101.25) == pytest.approx(1.25)
    assert st.now(wall=150.0) == pytest.approx(1.0 + MAX_EXTRAPOLATE_S)
    assert m.window(wall=101.25) == pytest.approx((1.25 - 30, 1.25))
    m.feed(status(1.5), wall=101.5)
    assert m.banner(wall=101.6) is None
    # no message at all for STALE_S (a vanished device delivers no audio, so no status)
    assert m.banner(wall=101.5 + STALE_S + 0.5) == "no audio from call for 3 s; waiting for the input"
    m.set_engine_error("engine stopped: RuntimeError: boom")
    assert m.banner().startswith("engine stopped")
    # a summary ends the stream: the clock stops at its duration
    m.feed({"type": "summary", "stream": "call", "time": "x", "duration_s": 4.0, "speech_s": 0.0,
            "events": 0, "share": {}, "valence3_share": {}, "longest_negative_s": 0.0, "overruns": 0})
    assert st.ended and st.now(wall=999.0) == 4.0 and not st.speech


def test_sustained_negative_alert_threshold_and_lapse() -> None:
    m = SessionModel(negative_alert_s=5.0)
    m.feed(event(2.0, "neutral"))
    for k in range(8):                      # angry windows every 0.5 s: t_start 1.0 .. 4.5
        m.feed(event(3.0 + 0.5 * k, "angry"))
    st = m.current
    assert st.negative_s() == pytest.approx(6.5 - 1.0 - 0.0)  # 1.0 .. 6.5
    assert m.negative_alert()
    # a gap shorter than NEGATIVE_GAP_S continues the stretch, a positive window ends it
    m.feed(event(6.5 + NEGATIVE_GAP_S + 1.0, "sad"))
    assert st.negative_s() > 6.5 and m.negative_alert()
    m.feed(event(11.0, "happy"))
    assert st.negative_s() == 0.0 and not m.negative_alert()
    # the stretch lapses in silence once the clock is past the gap
    m2 = SessionModel(negative_alert_s=1.0)
    for k in range(6):
        m2.feed(event(3.0 + 0.5 * k, "fearful"))
    assert m2.negative_alert()
    m2.feed(status(5.5 + NEGATIVE_GAP_S + 0.5, speech=False))
    assert not m2.negative_alert()


def test_streams_follow_and_unknown_messages() -> None:
    m = SessionModel()
    assert not m.feed({"type": "hello", "stream": "x"}) and not m.feed("junk") and m.current is None
    m.feed(event(2.0, "happy", stream="agent"))
    m.feed(event(2.0, "angry", stream="customer"))
    assert m.follow == "agent" and list(m.streams) == ["agent", "customer"]
    m2 = SessionModel(follow="customer")
    m2.feed(event(2.0, "happy", stream="agent"))
    assert m2.current is None
    m2.feed(event(2.0, "angry", stream="customer"))
    assert m2.current.current["label"] == "angry"
    m2.clear()
    assert m2.current is None and not m2.events and m2.follow == "customer"


def test_engine_objects_are_taken_as_their_json_form() -> None:
    probs = np.full(len(LABELS), 0.02)
    probs[LABELS.index("surprised")] = 0.86
    ev = EmotionEvent.from_probs("mic", 0.0, 2.0, LABELS, probs, 5.0)
    st = Status("mic", 2.0, "x", True, -18.0, 0)
    assert as_dict(ev) == ev.to_dict()
    m = SessionModel()
    m.feed_all([ev, st])
    assert m.current.current == ev.to_dict()
    assert m.current.level_db == -18.0
    assert color_of("surprised") == COLORS["surprised"] and color_of(None) == color_of("nope")


def test_export_csv_and_json(tmp_path) -> None:
    m = SessionModel()
    evs = [event(2.0, "happy"), event(2.5, "sad", p=0.55)]
    m.feed_all(evs)
    doc = json.loads(m.export_json(tmp_path / "s.json").read_text())
    assert doc["events"] == evs and doc["labels"] == list(LABELS)
    rows = list(csv.DictReader(open(m.export_csv(tmp_path / "s.csv"))))
    assert [r["label"] for r in rows] == ["happy", "sad"]
    assert float(rows[1]["sad"]) == pytest.approx(0.55) and rows[0]["valence3"] == "neutral"


@pytest.mark.parametrize("bad", [
    {"t_end": None}, {"t_end": "late"}, {"t_start": float("nan")}, {"confidence": "high"},
    {"probs": ["angry"]}, {"probs": {"angry": "much"}}, {"label": None}, {"valence": [1]},
])
def test_malformed_messages_are_dropped_and_counted(bad: dict) -> None:
    """A damaged recording or a feed of another version must not raise inside the UI's event
    loop: the message is dropped, counted, changes nothing, and the next good one still lands."""
    m = SessionModel()
    assert m.feed(event(2.0, "happy"))
    rev = m.rev
    assert not m.feed({**event(3.0, "angry"), **bad})
    assert not m.feed({**status(3.0), "t": "soon"})
    assert m.malformed == 2 and m.rev == rev and m.current.events == 1
    assert m.feed(event(4.0, "sad")) and m.current.current["label"] == "sad"


def test_view_options_reach_the_model_and_zero_is_kept() -> None:
    """`--negative-alert 0` (alert at the first negative window) used to become 10 s, since the
    option was read with `or 10.0`; options left out keep the model's own defaults."""
    from ser_live.cli import build_parser
    from ser_live.ui.app import make_model
    from ser_live.ui.model import DEFAULT_HISTORY_S, DEFAULT_NEGATIVE_ALERT_S

    parse = build_parser().parse_args
    m = make_model(LABELS, parse(["dashboard", "--negative-alert", "0", "--history", "30"]))
    assert (m.negative_alert_s, m.history_s) == (0.0, 30.0)
    m = make_model(LABELS, parse(["monitor"]))
    assert (m.negative_alert_s, m.history_s) == (DEFAULT_NEGATIVE_ALERT_S, DEFAULT_HISTORY_S)
    m.feed(event(2.0, "angry"))
    assert not m.negative_alert()                      # 2 s of anger: not yet 10
    zero = make_model(LABELS, parse(["monitor", "--negative-alert", "0"]))
    zero.feed(event(2.0, "angry"))
    assert zero.negative_alert()

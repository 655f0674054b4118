"""Synthesise the bundled demo call, assets/demo_call.wav, with espeak-ng and sox.

Two two-party phone calls, about three minutes together: a customer who starts calm, grows
angry, turns sad and ends relieved, then a frightened caller reporting a stolen card who
calms down, each answered by an even-toned agent, with pauses between turns and a low
background hiss. The audio is made here (no corpus clips), so it can ship with the repo.

    python scripts/make_demo_audio.py [--out assets/demo_call.wav]
"""
from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

# (speaker voice, espeak-ng prosody: pitch, speed, amplitude, text)
TURNS = [
    ("en+f3", 50, 165, 100, "Thank you for calling. My name is Anna. How can I help you today?"),
    ("en+m3", 45, 160, 90, "Hi. I ordered a washing machine two weeks ago, and I wanted to check when it will arrive."),
    ("en+f3", 50, 165, 100, "Of course. Could you give me your order number, please?"),
    ("en+m3", 45, 150, 90, "Yes, it is four, seven, two, nine, one, five."),
    ("en+f3", 50, 165, 100, "Thank you. Let me look that up for you. One moment please."),
    ("en+m3", 70, 215, 180, "I have been waiting for two weeks! Nobody called me, nobody wrote, this is absolutely unacceptable!"),
    ("en+m3", 80, 230, 200, "I took a day off work for the delivery and nobody came! I want my money back right now!"),
    ("en+f3", 48, 160, 100, "I am very sorry about that. I can see the order here, and I can see what went wrong."),
    ("en+m3", 75, 220, 190, "What went wrong is that you people never answer the phone! I called three times yesterday!"),
    ("en+f3", 48, 155, 100, "I understand how frustrating that is. The driver could not reach the address, and the order was sent back."),
    ("en+m3", 20, 105, 60, "I just needed it for my mother. She is ill, and everything is so hard at the moment."),
    ("en+m3", 18, 100, 55, "I do not know what to do anymore. Nothing seems to work out."),
    ("en+f3", 50, 160, 100, "I am sorry to hear that. I will arrange a delivery for tomorrow morning, free of charge."),
    ("en+f3", 50, 160, 100, "The driver will call you thirty minutes before arriving."),
    ("en+m3", 70, 190, 130, "Oh, that is wonderful! Thank you so much, that is great news, really!"),
    ("en+m3", 65, 185, 120, "You have been very kind. I am sorry I shouted earlier."),
    ("en+f3", 55, 170, 100, "No problem at all. Is there anything else I can do for you today?"),
    ("en+m3", 60, 175, 110, "No, that is all. Thanks again, have a lovely day!"),
    ("en+f3", 55, 170, 100, "You too. Goodbye!"),
]
PAUSES_S = [1.2, 0.8, 1.0, 2.5, 1.5, 0.6, 1.0, 0.7, 0.9, 1.5, 0.8, 1.0, 0.6, 1.2, 0.8, 1.0, 0.7, 0.8, 3.0]

TURNS_2 = [
    ("en+m1", 50, 165, 100, "Good afternoon, you are through to card services. This is Mark speaking."),
    ("en+f4", 85, 235, 150, "Hello? Yes! My card has been stolen, I think someone is using it right now!"),
    ("en+f4", 90, 245, 160, "There are payments I never made, hundreds of pounds, what do I do? Please help me!"),
    ("en+m1", 48, 155, 100, "Please do not worry. I am blocking the card now, so no further payments can go through."),
    ("en+f4", 80, 225, 140, "Are you sure? What if they already took everything? I am really scared."),
    ("en+m1", 48, 150, 100, "The card is blocked. The payments you did not make will be refunded within five days."),
    ("en+f4", 55, 170, 110, "All right. Thank you. That makes me feel a lot better."),
    ("en+m1", 50, 160, 100, "A new card will arrive by post this week. Is there anything else?"),
    ("en+f4", 50, 165, 100, "No, that is everything. Thank you for your help."),
]
PAUSES_2 = [1.0, 0.6, 0.8, 1.0, 0.7, 1.2, 0.9, 1.0, 2.0]
CALLS = [(TURNS, PAUSES_S), (TURNS_2, PAUSES_2)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="assets/demo_call.wav")
    args = ap.parse_args()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        parts = []
        turns = [(t, p) for call_turns, pauses in CALLS for t, p in zip(call_turns, pauses)]
        for i, ((voice, pitch, speed, amp, text), pause) in enumerate(turns):
            raw = Path(tmp) / f"turn{i:02d}.wav"
            subprocess.run(["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed),
                            "-a", str(amp), "-w", str(raw), text], check=True)
            part = Path(tmp) / f"part{i:02d}.wav"
            subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(part),
                            "vol", "0.7", "pad", "0", str(pause)], check=True)
            parts.append(str(part))
        speech = Path(tmp) / "speech.wav"
        subprocess.run(["sox", *parts, str(speech), "pad", "1.0", "0"], check=True)
        dur = subprocess.run(["soxi", "-D", str(speech)], check=True, capture_output=True,
                             text=True).stdout.strip()
        noise = Path(tmp) / "noise.wav"
        subprocess.run(["sox", "-n", "-r", "16000", "-c", "1", "-b", "16", str(noise),
                        "synth", dur, "pinknoise", "vol", "0.02"], check=True)
        subprocess.run(["sox", "-m", str(speech), str(noise), "-b", "16", str(out),
                        "norm", "-3"], check=True)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

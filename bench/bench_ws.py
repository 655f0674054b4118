"""Websocket fan-out: many subscribed clients receiving every event of many streams.

The server (`ser_live.sinks.ws.Broadcaster`) runs in this process and is fed through an
EventBus exactly as the engine feeds it: per stream, `--rate` events and 2 status messages a
second (the engine's pace for continuous speech, hop 0.5 s). Clients are real `websockets`
clients spread over `--procs` processes (one Python process cannot read 1,000 sockets as fast
as the server writes them). Each client counts the events of every stream and the delivery
latency (receive wall clock - the event's `time` stamp, 1 ms resolution).

Baseline, same run: one client alone for a few seconds. `--stall` adds a client that completes
the handshake and never reads (tiny receive buffer): the server's memory and the other
clients' latency must not care.

    .venv/bin/python bench/bench_ws.py --clients 200 --streams 10 --seconds 20 --procs 4
    .venv/bin/python bench/bench_ws.py --clients 1000 --streams 10 --seconds 20 --procs 8
    .venv/bin/python bench/bench_ws.py --clients 200 --streams 10 --seconds 60 --stall

Targets: 200 clients x 10 streams: all delivered, p99 <= 50 ms. 1,000 clients: server up,
healthy clients keep receiving (latency reported). Stalled client: bounded server memory.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import socket
import sys
import time

import numpy as np

from common import rss_mb, write_json  # noqa: E402  (puts the checkout on sys.path)
from ser_live.bus import EventBus  # noqa: E402
from ser_live.events import EmotionEvent, Status, epoch_of, iso_now  # noqa: E402
from ser_live.labels import LABELS  # noqa: E402
from ser_live.sinks.ws import Broadcaster, WsConfig  # noqa: E402


# ---- clients (child processes) ---------------------------------------------------------

def client_proc(url: str, n: int, streams: int, ready, start, out, deadline_s: float) -> None:
    asyncio.run(_clients(url, n, streams, ready, start, out, deadline_s))


async def _clients(url, n, streams, ready, start, out, deadline_s) -> None:
    from websockets.asyncio.client import connect

    results = []

    async def one() -> None:
        lat, per_stream, dropped, ended = [], {}, 0, 0
        try:
            async with connect(url, compression=None, open_timeout=60, max_queue=256,
                               ping_interval=None) as ws:
                json.loads(await ws.recv())  # hello
                ready.put(1)
                deadline = time.monotonic() + deadline_s
                while ended < streams and time.monotonic() < deadline:
                    try:
                        raw = await asyncio.wait_for(ws.recv(), max(0.1, deadline - time.monotonic()))
                    except asyncio.TimeoutError:
                        break
                    m = json.loads(raw)
                    t = m["type"]
                    if t == "event":
                        lat.append(time.time() - epoch_of(m["time"]))
                        per_stream[m["stream"]] = per_stream.get(m["stream"], 0) + 1
                    elif t == "summary":
                        ended += 1
                    elif t == "dropped":
                        dropped = m["total"]
        except Exception as exc:  # noqa: BLE001 - counted as a failed client
            results.append({"error": f"{type(exc).__name__}: {exc}"})
            return
        results.append({"lat": lat, "events": sum(per_stream.values()), "dropped": dropped, "ended": ended})

    # connect gradually: a thousand simultaneous handshakes is a different benchmark
    tasks = []
    for _ in range(n):
        tasks.append(asyncio.create_task(one()))
        await asyncio.sleep(0.005)
    await asyncio.gather(*tasks)
    lat = np.concatenate([np.array(r["lat"]) for r in results if "lat" in r] or [np.zeros(0)])
    out.put({"clients": n, "ok": sum("lat" in r for r in results),
             "errors": [r["error"] for r in results if "error" in r][:3],
             "events": [r["events"] for r in results if "lat" in r],
             "dropped": sum(r.get("dropped", 0) for r in results),
             "lat": lat.astype(np.float32).tolist()})


def stalled_client(url: str, port: int):
    """A real client that stops reading after the handshake: a queue of one message and a 4 KB
    socket buffer, so the server's sends back up at once."""
    from websockets.sync.client import connect

    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    return connect(url, sock=s, max_queue=1, ping_interval=None)


# ---- one step ------------------------------------------------------------------------------

def run_step(clients: int, streams: int, seconds: float, rate: float, procs: int,
             stall: bool = False, queue: int = 256, burst: bool = False) -> dict:
    bus = EventBus()
    names = [f"s{k:02d}" for k in range(streams)]
    cfg = WsConfig(port=0, max_clients=clients + 16, queue_size=queue, heartbeat_s=5.0,
                   ping_interval_s=20, ping_timeout_s=20)
    b = Broadcaster(cfg).start()
    b.attach(bus, names)
    ctx = mp.get_context("spawn")
    ready, start, out = ctx.Queue(), ctx.Event(), ctx.Queue()
    per = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
    workers = [ctx.Process(target=client_proc, args=(b.ws_url, n, streams, ready, start, out,
                                                     seconds + 60), daemon=True)
               for n in per if n]
    for w in workers:
        w.start()
    t0 = time.monotonic()
    for _ in range(clients):
        ready.get(timeout=300)
    connect_s = time.monotonic() - t0
    stalled = stalled_client(b.ws_url, b.port) if stall else None
    rss0 = rss_mb()

    rng = np.random.default_rng(0)
    n_events = int(seconds * rate)
    status_every = max(1, int(round(rate / 2)))  # status at 2 Hz
    t_pub_max, rss_peak = 0.0, rss0
    t_start = time.monotonic()
    for i in range(n_events):
        t0s = i / rate
        for k, s in enumerate(names):
            # independent calls finish their windows at unrelated moments: spread the streams
            # over the period, unless --burst asks for the worst case of all at once
            due = t_start + i / rate + (0.0 if burst else k / (rate * len(names)))
            while time.monotonic() < due:
                time.sleep(min(0.005, max(0.0, due - time.monotonic())))
            p = rng.dirichlet(np.ones(len(LABELS)))
            ev = EmotionEvent.from_probs(s, t0s, t0s + 2.0, LABELS, p, 10.0)
            t0 = time.perf_counter()
            bus.publish(ev)
            if i % status_every == 0:
                bus.publish(Status(s, t0s + 2.0, iso_now(), True, -20.0, 0))
            t_pub_max = max(t_pub_max, time.perf_counter() - t0)
        if i % int(rate) == 0:
            rss_peak = max(rss_peak, rss_mb())
    from ser_live.events import Summary

    for s in names:
        bus.publish(Summary(s, iso_now(), seconds, seconds, n_events, {}, {"negative": 0, "neutral": 1,
                            "positive": 0}, 0.0, 0))
    results = [out.get(timeout=seconds + 120) for _ in workers]
    stall_info = None
    if stalled is not None:
        port = stalled.local_address[1]
        c = next((c for c in b._clients if c.ws.remote_address[1] == port), None)
        stall_info = {"queued": len(c.queue) if c else None, "dropped": c.dropped if c else None,
                      "sent": c.sent if c else None, "queue_limit": queue}
        stalled.close()
    for w in workers:
        w.join(10)
    b.close()
    lat = np.concatenate([np.array(r["lat"]) for r in results]) * 1000 if results else np.zeros(0)
    events = [e for r in results for e in r["events"]]
    expected = n_events * streams
    return {"clients": clients, "streams": streams, "seconds": seconds, "rate_per_stream": rate,
            "procs": len(workers), "connect_s": round(connect_s, 2),
            "clients_ok": sum(r["ok"] for r in results),
            "errors": [e for r in results for e in r["errors"]][:5],
            "expected_events_per_client": expected,
            "clients_all_delivered": sum(e == expected for e in events),
            "delivered_share": round(sum(events) / max(1, expected * clients), 5),
            "dropped_reported": sum(r["dropped"] for r in results),
            "latency_ms": {q: round(float(np.percentile(lat, v)), 1) if len(lat) else None
                           for q, v in (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100))},
            "publish_max_ms": round(t_pub_max * 1000, 2),
            "server_rss_mb": {"start": round(rss0, 1), "peak": round(rss_peak, 1), "end": round(rss_mb(), 1)},
            "stalled_client": stall_info}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--streams", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--rate", type=float, default=2.0, help="events per stream per second")
    ap.add_argument("--procs", type=int, default=4, help="client processes")
    ap.add_argument("--queue", type=int, default=256, help="per-client queue (messages)")
    ap.add_argument("--stall", action="store_true", help="add a client that never reads")
    ap.add_argument("--burst", action="store_true",
                    help="publish every stream's event at the same instant (worst case)")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()

    report = {}
    if not args.no_baseline:
        report["baseline_1_client"] = run_step(1, args.streams, min(5.0, args.seconds), args.rate, 1,
                                               burst=args.burst)
        print(json.dumps(report["baseline_1_client"]), flush=True)
    step = run_step(args.clients, args.streams, args.seconds, args.rate, args.procs, args.stall, args.queue,
                    args.burst)
    report["step"] = step
    print(json.dumps(step, indent=1))
    p99 = step["latency_ms"]["p99"]
    base = report.get("baseline_1_client", {}).get("latency_ms", {}).get("p99")
    all_ok = step["clients_all_delivered"] == step["clients"]
    print(f"\n{step['clients']} clients x {step['streams']} streams: delivered {step['delivered_share']:.2%} "
          f"({step['clients_all_delivered']}/{step['clients']} clients got every event), "
          f"p50 {step['latency_ms']['p50']} ms, p99 {p99} ms (target <= 50 ms)"
          + (f", ratio to 1 client p99 {p99 / max(base, 1e-3):.1f}x" if base else "")
          + f"; server RSS {step['server_rss_mb']}")
    if step["stalled_client"]:
        print(f"stalled client: {step['stalled_client']}")
    write_json(args.json, report)
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Command line of the websocket side: `monitor --ws/--ws-publish` options and `ser-live serve`."""
from __future__ import annotations

import argparse
import os
import sys
import threading
from typing import Any

from .ws import DEFAULT_PORT, TOKEN_ENV, Broadcaster, WsConfig, parse_hostport
from .ws_publish import Publisher


def add_ws_arguments(p: argparse.ArgumentParser, serve: bool = False) -> None:
    """The websocket options of `monitor` (and `serve`)."""
    from ..cli import _count

    g = p.add_argument_group("websocket broadcast (events only; audio never leaves the machine)")
    if not serve:
        g.add_argument("--ws", metavar="HOST:PORT",
                       help="serve events over websockets and the supervisor page at http://HOST:PORT/ "
                            "(e.g. 127.0.0.1:8765)")
        g.add_argument("--ws-publish", metavar="URL",
                       help="push events to a `ser-live serve` hub, e.g. ws://127.0.0.1:8765/publish")
        g.add_argument("--tls-ca", metavar="FILE", help="CA file that signs the hub's certificate (wss://)")
    g.add_argument("--token", help=f"shared secret clients must present (default: ${TOKEN_ENV}); "
                                   "required to bind a non-loopback address")
    g.add_argument("--allow-origin", action="append", metavar="ORIGIN",
                   help="browser Origin allowed besides the page's own (repeatable; '*' for any)")
    g.add_argument("--max-clients", type=_count,
                   help=f"most simultaneous websocket clients (default {WsConfig.max_clients})")
    g.add_argument("--tls-cert", metavar="FILE", help="serve https/wss with this certificate (PEM)")
    g.add_argument("--tls-key", metavar="FILE", help="private key of --tls-cert (PEM)")
    g.add_argument("--ws-queue", type=_count,
                   help="messages buffered per client before its oldest are dropped "
                        f"(default {WsConfig.queue_size})")


#: `monitor` options of the server that --ws starts (a hub has its own, on `ser-live serve`)
SERVER_FLAGS = ("--allow-origin", "--max-clients", "--tls-cert", "--tls-key", "--ws-queue")


def check_ws_arguments(args: argparse.Namespace) -> None:
    """Refuse `monitor` websocket options that what was asked for would ignore, before any
    work: `--ws` beside `--ws-publish` used to serve nothing, `--token` without either to
    protect nothing."""
    from ..cli import refuse_unused

    if args.ws_publish:
        refuse_unused(args, ("--ws", *SERVER_FLAGS), "not used with --ws-publish (the hub serves the "
                      "viewers: set these on `ser-live serve`)")
    elif args.ws:
        refuse_unused(args, ("--tls-ca",), "not used with --ws (it names the CA of a --ws-publish hub)")
    else:
        refuse_unused(args, ("--token", "--tls-ca", *SERVER_FLAGS), "not used without --ws or --ws-publish")


def _config(args: argparse.Namespace, listen: str, hub: bool) -> WsConfig:
    from ..cli import CliError, given_options

    try:
        host, port = parse_hostport(listen)
        cfg = WsConfig(host=host, port=port, token=args.token or os.environ.get(TOKEN_ENV) or None,
                       allow_origins=tuple(args.allow_origin or ()), tls_cert=args.tls_cert,
                       tls_key=args.tls_key, hub=hub,
                       **given_options(max_clients=args.max_clients, queue_size=args.ws_queue))
        cfg.check()
    except ValueError as exc:
        raise CliError(str(exc)) from None
    return cfg


def start_broadcaster(engine: Any, args: argparse.Namespace) -> "Broadcaster | Publisher | None":
    """For `monitor`: serve (--ws) or publish (--ws-publish) the engine's messages; None if
    neither was asked for. Call before `engine.run()`; `close()` it after `engine.bus.close()`."""
    from ..cli import CliError

    meta = getattr(engine.classifier, "meta", None) or {}
    model = {"name": meta.get("name"), "labels": list(engine.labels)}
    if getattr(args, "ws_publish", None):
        token = args.token or os.environ.get(TOKEN_ENV) or None
        pub = Publisher(args.ws_publish, engine.streams, token, model["name"], engine.labels,
                        cafile=getattr(args, "tls_ca", None)).start()
        pub.attach(engine.bus)
        return pub
    if not getattr(args, "ws", None):
        return None
    cfg = _config(args, args.ws, hub=False)
    try:
        b = Broadcaster(cfg, model=model, labels=engine.labels).start()
    except OSError as exc:
        raise CliError(f"--ws {args.ws}: cannot listen ({exc.strerror or exc})") from None
    b.attach(engine.bus, engine.streams, model=model["name"], labels=engine.labels)
    print(f"ser-live: supervisor page at {b.url} (websocket {b.ws_url})", file=sys.stderr)
    return b


def cmd_serve(args: argparse.Namespace) -> int:
    import signal

    from ..cli import CliError

    cfg = _config(args, args.listen, hub=True)
    try:
        b = Broadcaster(cfg).start()
    except OSError as exc:
        raise CliError(f"--listen {args.listen}: cannot listen ({exc.strerror or exc})") from None
    print(f"ser-live serve: supervisor page at {b.url} (websocket {b.ws_url}); monitors publish "
          f"to {b.ws_url.rsplit('/', 1)[0]}/publish", file=sys.stderr, flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        b.close()
    return 0


def add_serve_parser(sub: Any) -> argparse.ArgumentParser:
    """`ser-live serve`: a hub that monitors publish into (`monitor --ws-publish URL`), serving
    all their streams to websocket clients and the supervisor page."""
    p = sub.add_parser("serve", help="websocket hub + supervisor page that monitors publish into",
                       description=add_serve_parser.__doc__)
    p.add_argument("--listen", default=f"127.0.0.1:{DEFAULT_PORT}", metavar="HOST:PORT",
                   help="address to serve on (default: %(default)s)")
    add_ws_arguments(p, serve=True)
    p.set_defaults(func=cmd_serve)
    return p

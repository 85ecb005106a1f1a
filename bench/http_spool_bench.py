"""What the HTTP ingest spool costs per request: `POST /v1/records` on a live uvicorn, with and without fsync.

    .venv/bin/python bench/http_spool_bench.py [--requests 300] [--batch 10] [--rounds 3]

Three set-ups of the same app around a fresh demo engine, each sent the demo log's first
``requests * batch`` lines in batches of ``batch`` records over one keep-alive connection to the app
running in a subprocess (a plain socket with TCP_NODELAY, each request in one send, timed from the send
to the last byte of the reply):
no spool (the baseline: records processed straight away, lost on SIGKILL), the spool without fsync
(written, not flushed to the disk), the spool with fsync (what ``watchdog serve`` does). The rounds
alternate the set-ups so that a change of machine load hits all three; the figures are the median and
95th percentile over every request of every round. The spool goes to a temporary directory (on this
machine the same ext4 disk as the repository).
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.sources.helpers import engine as make_engine
from watchdog.ingest.sources.spool import Spool
from watchdog.service.api import create_app
from watchdog.store.store import Store

DATA = Path(str(resources.files("watchdog").joinpath("data")))
TOKEN = "bench-token-0123456789abcdef"


def server(setup: str, port: int, tmp: Path) -> None:
    """The app in its own process: a client thread in the server's process measures its own GIL waits."""
    import uvicorn

    eng = make_engine(clock=lambda: 1.80e9)
    spool = None if setup == "no spool" else Spool(tmp / "spool", fsync=setup == "spool + fsync")
    store = Store(tmp / "w.db")
    app = create_app(engine=eng, store=store, registry=eng.metrics.registry, tokens=[TOKEN],
                     quarantine=io.BytesIO(), spool=spool)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def run(setup: str, lines: list[bytes], batch: int, tmp: Path) -> list[float]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, __file__, "--serve", setup, "--port", str(port), "--dir", str(tmp)],
                            stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:  # bounded wait for the server's socket
            try:
                sock = socket.create_connection(("127.0.0.1", port))
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"the {setup!r} server did not start") from None
                time.sleep(0.05)
        times = []
        with sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # each request in one segment
            reader = sock.makefile("rb")
            for i in range(0, len(lines), batch):
                body = b"\n".join(lines[i:i + batch])
                request = (f"POST /v1/records HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
                           f"Content-Type: application/x-ndjson\r\nContent-Length: {len(body)}\r\n\r\n"
                           ).encode() + body
                t = time.perf_counter()
                sock.sendall(request)
                status = reader.readline().split()[1]
                length = 0
                while (header := reader.readline()) != b"\r\n":
                    if header.lower().startswith(b"content-length:"):
                        length = int(header.split(b":")[1])
                reply = reader.read(length)
                times.append(time.perf_counter() - t)
                assert status in (b"200", b"400"), reply
        return times
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--serve", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--dir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        return server(args.serve, args.port, Path(args.dir))
    lines = [ln for ln in (DATA / "demo.jsonl").read_bytes().splitlines() if ln.strip()][:args.requests * args.batch]
    setups = ("no spool", "spool, no fsync", "spool + fsync")
    got: dict[str, list[float]] = {s: [] for s in setups}
    for _ in range(args.rounds):
        for setup in setups:
            with tempfile.TemporaryDirectory() as tmp:
                got[setup] += run(setup, lines, args.batch, Path(tmp))
    print(f"nproc {os.cpu_count()}, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{args.rounds} rounds x {len(lines) // args.batch} requests of {args.batch} records")
    base = statistics.median(got["no spool"])
    for setup in setups:
        t = sorted(got[setup])
        med, p95 = statistics.median(t), t[int(0.95 * (len(t) - 1))]
        print(f"{setup:16s} median {med * 1000:7.3f} ms  p95 {p95 * 1000:7.3f} ms  "
              f"(+{(med - base) * 1000:.3f} ms on the median of 'no spool')")


if __name__ == "__main__":
    main()

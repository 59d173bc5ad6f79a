"""Fleet simulation (issue 14 item 5): what one kiosk receives and sends, for K kiosks.

K simulated kiosks against the local RTDB server (tests/rtdb_server.py, in a child process
so the clients do not share its interpreter). They are **lighter clients**, not the SDK:
plain ``http.client`` connections making the same REST and streaming calls as
kiosk/sync/engine.py with the production settings:

* one stream (``Accept: text/event-stream``) on ``/ring`` (``--design old``: on all of
  ``/kiosks``, as before issue 14);
* a heartbeat every ``--heartbeat-s``: ``PUT`` and ``GET /kiosks/{id}/heartbeatAt`` (a
  server timestamp read back: also the server's time; a ``PATCH`` with ``seenAt`` too when
  the catch-up cursor moved);
* on another kiosk's ring, a catch-up at a random moment within ``--jitter-s`` (old: at
  once, on any ``changedAt``), rings meanwhile served by the same catch-up; and one every
  ``--catchup-interval-s`` anyway. A catch-up is the engine's three requests,
  ``GET /revocations`` and the ``/attempts`` and ``/users`` queries
  ``orderBy="updatedAt"&startAt=cursor-overlap``, plus the heartbeat when the server's time
  is older than ``--heartbeat-s`` (``--design old``: the server's time read with a write
  at every catch-up, as before);
* ``--changes-per-min`` changes fleet-wide (the same for every K): a kiosk picked at random
  writes a user record of the real size (3 sealed 128-d templates, signature fields) and
  rings (one multi-path ``PATCH`` of ``/ring`` and ``/kiosks/{id}/changedAt``).

Reported per K: per kiosk per minute the stream events (keep-alives apart), bytes received
(stream + REST bodies and headers), requests sent and catch-ups; requests per second at the
server; propagation p50/p95 (the writer's write to each other kiosk's catch-up returning
the record); catch-up queries per change per kiosk. What the SDK itself costs per event
(its byte-at-a-time SSE parser) is not in these figures; nor is TLS.

    .venv/bin/python benchmarks/fleet.py --kiosks 10,50,200 --json
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
NAMESPACE = "fleet-bench"
AUTH = {"Authorization": "Bearer owner"}  # the local server's admin token (as the emulator's)
SERVER_TS = {".sv": "timestamp"}

_SERVER = """
import sys
sys.path.insert(0, {tests!r})
import rtdb_server
from rtdb_server import RtdbServer
rtdb_server._HTTPServer.request_queue_size = 1024  # K clients connect at once (socketserver's default is 5)
server = RtdbServer(rules_path={rules!r}, keepalive_s={keepalive}, record_requests=False).start()
print(server.port, flush=True)
sys.stdin.read()
server.stop()
"""


def start_server(keepalive_s: float) -> tuple[subprocess.Popen[str], int]:
    code = _SERVER.format(tests=str(ROOT / "tests"), rules=str(ROOT / "database.rules.json"), keepalive=keepalive_s)
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


def user_record(writer: str, rng: random.Random) -> dict[str, Any]:
    """A user record of the real size: 3 sealed 128-d float32 templates and the signature."""
    sealed = lambda: base64.b64encode(rng.randbytes(1 + 12 + 512 + 16)).decode()  # noqa: E731
    return {
        "email": f"person{rng.randrange(10**9)}@example.org",
        "passwordHash": "$argon2id$v=19$m=65536,t=3,p=4$" + base64.b64encode(rng.randbytes(16)).decode() + "$"
        + base64.b64encode(rng.randbytes(32)).decode(),
        "model": "dlib_resnet_v1/fp32@0123456789ab",
        "templates": {str(uuid.UUID(int=rng.getrandbits(128))): sealed() for _ in range(3)},
        "deleted": False, "updatedAt": SERVER_TS, "createdAt": int(time.time() * 1000), "origin": writer,
        "writer": writer, "changeId": f"{writer}:{rng.randrange(10**9)}", "revision": 1,
        "signedAt": int(time.time() * 1000), "sig": base64.b64encode(rng.randbytes(64)).decode(),
    }


class Rest:
    """One kiosk's keep-alive HTTP connection (as requests' session keeps one)."""

    def __init__(self, port: int, counters: "Counters") -> None:
        self.port = port
        self.counters = counters
        self.lock = threading.Lock()
        self.http: http.client.HTTPConnection | None = None

    def call(self, method: str, path: str, body: Any = None, query: str = "") -> Any:
        url = f"{path}.json?ns={NAMESPACE}" + (f"&{query}" if query else "")
        data = None if body is None else json.dumps(body).encode()
        with self.lock:
            for attempt in range(3):
                if self.http is None:
                    self.http = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                try:
                    self.http.request(method, url, body=data, headers={**AUTH, "Content-Type": "application/json"})
                    resp = self.http.getresponse()
                    payload = resp.read()
                    break
                except (http.client.HTTPException, OSError):
                    self.http.close()
                    self.http = None
                    if attempt == 2:
                        raise
            head = 17 + sum(len(k) + len(v) + 4 for k, v in resp.getheaders())
            self.counters.add(requests=1, rest_bytes=len(payload) + head)
            if resp.status >= 300:
                raise RuntimeError(f"{method} {path}: {resp.status} {payload[:200]!r}")
            return json.loads(payload) if payload else None


@dataclass
class Counters:
    lock: threading.Lock = field(default_factory=threading.Lock)
    events: int = 0
    keepalives: int = 0
    stream_bytes: int = 0
    rest_bytes: int = 0
    requests: int = 0
    catchups: int = 0
    ring_catchups: int = 0

    def add(self, **amounts: int) -> None:
        with self.lock:
            for name, amount in amounts.items():
                setattr(self, name, getattr(self, name) + amount)

    def reset(self) -> None:
        with self.lock:
            for name in ("events", "keepalives", "stream_bytes", "rest_bytes", "requests", "catchups", "ring_catchups"):
                setattr(self, name, 0)


class SimKiosk:
    def __init__(self, kiosk_id: str, port: int, args: argparse.Namespace, changes: dict[str, float],
                 samples: list[float], rng: random.Random) -> None:
        self.id = kiosk_id
        self.port = port
        self.args = args
        self.counters = Counters()
        self.rest = Rest(port, self.counters)
        self.changes = changes  # uid -> moment written (shared)
        self.samples = samples  # propagation delays (shared)
        self.seen: set[str] = set()
        self.rng = rng
        self.lock = threading.Lock()
        self.catchup_at: float | None = None
        self.running_catchup = False
        self.cursor = 0
        self.connected = threading.Event()
        self.stop = threading.Event()
        now = time.monotonic()
        self.next_heartbeat = now + rng.uniform(0, args.heartbeat_s)
        self.next_periodic = now + rng.uniform(0, args.catchup_interval_s)
        self.server_read = -1e9
        self.reported_cursor = -1

    # -- the stream ---------------------------------------------------------------------

    def listen(self) -> None:
        path = "/ring" if self.args.design == "new" else "/kiosks"
        for attempt in range(20):  # as the SDK, connect again after a refused or cut connection
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=None)
                conn.request("GET", f"{path}.json?ns={NAMESPACE}", headers={**AUTH, "Accept": "text/event-stream"})
                resp = conn.getresponse()
                break
            except (http.client.HTTPException, OSError):
                time.sleep(0.2 * (attempt + 1))
        else:
            return
        event, data, size, first = "", "", 0, True
        while not self.stop.is_set():
            line = resp.readline()
            if not line:
                return
            size += len(line)
            text = line.decode().rstrip("\r\n")
            if text.startswith("event:"):
                event = text[6:].strip()
            elif text.startswith("data:"):
                data = text[5:].strip()
            elif text == "":
                if event == "keep-alive":
                    self.counters.add(keepalives=1, stream_bytes=size)
                elif event:
                    self.counters.add(events=1, stream_bytes=size)
                    self.on_event(event, data, first)
                    first = False
                    self.connected.set()
                event, data, size = "", "", 0

    def on_event(self, event: str, data: str, first: bool) -> None:
        if first:
            return
        try:
            body = json.loads(data)
        except ValueError:
            return
        path = str(body.get("path", "/")) if isinstance(body, dict) else "/"
        value = body.get("data") if isinstance(body, dict) else None
        if self.args.design == "new":
            ring = not (isinstance(value, dict) and value.get("by") == self.id)
            delay = self.rng.uniform(0, self.args.jitter_s)
        else:
            parts = path.strip("/").split("/")
            ring = parts[0] != self.id and (len(parts) == 1 or parts[1] == "changedAt")
            delay = 0.0
        if ring:
            with self.lock:
                if self.catchup_at is None:
                    self.catchup_at = time.monotonic() + delay

    # -- REST -----------------------------------------------------------------------------

    def heartbeat(self) -> None:
        if self.args.design == "new" and self.cursor != self.reported_cursor:
            self.rest.call("PATCH", f"/kiosks/{self.id}", {"heartbeatAt": SERVER_TS, "seenAt": self.cursor})
            self.reported_cursor = self.cursor
        else:
            self.rest.call("PUT", f"/kiosks/{self.id}/heartbeatAt", SERVER_TS)
        if self.args.design == "new":
            self.rest.call("GET", f"/kiosks/{self.id}/heartbeatAt")  # the server's time
            self.server_read = time.monotonic()
            self.next_heartbeat = self.server_read + self.args.heartbeat_s

    def catch_up(self, rung: bool) -> None:
        self.counters.add(catchups=1, ring_catchups=int(rung))
        if self.args.design == "old":
            self.rest.call("PUT", f"/clocks/{self.id}", SERVER_TS)
            self.rest.call("GET", f"/clocks/{self.id}")
        elif time.monotonic() - self.server_read >= self.args.heartbeat_s:
            self.heartbeat()
        self.rest.call("GET", "/revocations")
        start = max(0, self.cursor - 5000)
        order = quote('"updatedAt"')
        self.rest.call("GET", "/attempts", query=f"orderBy={order}&startAt={start}&limitToFirst=500")
        users = self.rest.call("GET", "/users", query=f"orderBy={order}&startAt={start}&limitToFirst=500") or {}
        now = time.monotonic()
        for uid, value in users.items():
            stamp = value.get("updatedAt") if isinstance(value, dict) else None
            if isinstance(stamp, int):
                self.cursor = max(self.cursor, stamp)
            written = self.changes.get(uid)
            if written is not None and uid not in self.seen and value.get("writer") != self.id:
                self.seen.add(uid)
                self.samples.append(now - written)

    def due(self, now: float) -> list[tuple[str, bool]]:
        """The work this kiosk owes now: ("heartbeat"|"catchup", rung)."""
        work: list[tuple[str, bool]] = []
        if now >= self.next_heartbeat:
            self.next_heartbeat = now + self.args.heartbeat_s
            work.append(("heartbeat", False))
        with self.lock:
            if self.running_catchup:
                return work
            rung = self.catchup_at is not None and now >= self.catchup_at
            if rung or now >= self.next_periodic:
                self.catchup_at = None if rung else self.catchup_at
                self.running_catchup = True
                self.next_periodic = now + self.args.catchup_interval_s
                work.append(("catchup", rung))
        return work

    def run_catchup(self, rung: bool) -> None:
        try:
            self.catch_up(rung)
        finally:
            with self.lock:
                self.running_catchup = False


def run_fleet(k: int, args: argparse.Namespace) -> dict[str, Any]:
    proc, port = start_server(args.keepalive_s)
    rng = random.Random(k)
    changes: dict[str, float] = {}
    samples: list[float] = []
    kiosks = [SimKiosk(f"k{i:05d}", port, args, changes, samples, random.Random(i)) for i in range(k)]
    try:
        setup = Rest(port, Counters())
        for kiosk in kiosks:  # what each kiosk's node holds besides heartbeats (certificate, keys)
            setup.call("PUT", f"/kiosks/{kiosk.id}", {"cert": base64.b64encode(rng.randbytes(420)).decode(),
                                                       "templateKeys": {"k1": base64.b64encode(rng.randbytes(92)).decode()}})
        setup.call("PUT", "/ring", {"by": "setup", "at": SERVER_TS, "n": 0})
        threads = [threading.Thread(target=kiosk.listen, daemon=True) for kiosk in kiosks]
        for thread in threads:
            thread.start()
        for kiosk in kiosks:
            if not kiosk.connected.wait(180):
                raise RuntimeError(f"kiosk {kiosk.id} got no first event")
        pool = ThreadPoolExecutor(max_workers=args.workers)
        for kiosk in kiosks:
            kiosk.counters.reset()
        stop = threading.Event()

        def scheduler() -> None:
            while not stop.is_set():
                now = time.monotonic()
                for kiosk in kiosks:
                    for kind, rung in kiosk.due(now):
                        pool.submit(kiosk.heartbeat if kind == "heartbeat" else kiosk.run_catchup, *(() if kind == "heartbeat" else (rung,)))
                stop.wait(0.02)

        writer_counters = Counters()

        def writer() -> None:
            interval = 60.0 / args.changes_per_min
            next_at = time.monotonic() + rng.uniform(0, interval)
            while not stop.wait(max(0.0, next_at - time.monotonic())):
                kiosk = rng.choice(kiosks)
                uid = str(uuid.UUID(int=rng.getrandbits(128)))
                rest = Rest(port, writer_counters)
                changes[uid] = time.monotonic()
                kiosk.seen.add(uid)
                rest.call("PUT", f"/users/{uid}", user_record(kiosk.id, rng))
                if args.design == "new":
                    rest.call("PATCH", "/", {"ring": {"by": kiosk.id, "at": SERVER_TS, "n": rng.getrandbits(31)},
                                            f"kiosks/{kiosk.id}/changedAt": SERVER_TS})
                else:
                    rest.call("PUT", f"/kiosks/{kiosk.id}/changedAt", SERVER_TS)
                next_at += interval

        started = time.monotonic()
        workers = [threading.Thread(target=scheduler, daemon=True), threading.Thread(target=writer, daemon=True)]
        for thread in workers:
            thread.start()
        time.sleep(args.duration_s)
        stop.set()
        elapsed = time.monotonic() - started
        for thread in workers:
            thread.join(10)
        pool.shutdown(wait=True)
        minutes = elapsed / 60.0
        per = lambda name: statistics.mean(getattr(x.counters, name) for x in kiosks) / minutes  # noqa: E731
        written = len(changes)
        requests = sum(x.counters.requests for x in kiosks) + writer_counters.requests
        delays = sorted(samples)
        return {
            "kiosks": k, "design": args.design, "seconds": round(elapsed, 1), "changes": written,
            "events_per_kiosk_per_min": round(per("events"), 2),
            "keepalives_per_kiosk_per_min": round(per("keepalives"), 2),
            "bytes_per_kiosk_per_min": round(per("stream_bytes") + per("rest_bytes")),
            "stream_bytes_per_kiosk_per_min": round(per("stream_bytes")),
            "requests_per_kiosk_per_min": round(per("requests"), 2),
            "catchups_per_kiosk_per_min": round(per("catchups"), 2),
            "server_requests_per_s": round(requests / elapsed, 2),
            "catchup_queries_per_change_per_kiosk": round(
                statistics.mean(x.counters.ring_catchups for x in kiosks) / written, 3) if written else None,
            "propagation_p50_s": round(delays[len(delays) // 2], 3) if delays else None,
            "propagation_p95_s": round(delays[min(len(delays) - 1, int(len(delays) * 0.95))], 3) if delays else None,
            "propagation_samples": len(delays),
        }
    finally:
        for kiosk in kiosks:
            kiosk.stop.set()
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kiosks", default="10,50,200", help="fleet sizes to simulate, comma-separated")
    parser.add_argument("--duration-s", type=float, default=120.0, help="measured seconds per fleet size")
    parser.add_argument("--changes-per-min", type=float, default=6.0, help="changes fleet-wide per minute (same for every K)")
    parser.add_argument("--heartbeat-s", type=float, default=30.0)
    parser.add_argument("--jitter-s", type=float, default=1.0, help="sync.ring_jitter_s")
    parser.add_argument("--catchup-interval-s", type=float, default=60.0)
    parser.add_argument("--keepalive-s", type=float, default=30.0, help="the server's keep-alive interval")
    parser.add_argument("--design", choices=("new", "old"), default="new", help="old: every kiosk listens to /kiosks")
    parser.add_argument("--workers", type=int, default=16, help="threads making the kiosks' REST calls")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = [run_fleet(int(k), args) for k in args.kiosks.split(",")]
    report = {"machine": f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}", "settings": {
        k: getattr(args, k) for k in ("duration_s", "changes_per_min", "heartbeat_s", "jitter_s", "catchup_interval_s", "keepalive_s", "design")
    }, "results": results}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for row in results:
            print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())

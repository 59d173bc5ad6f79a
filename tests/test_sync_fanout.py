"""What a kiosk's live stream carries must not grow with the fleet (issue 14 item 3).

Each kiosk listens to /ring only: rings (changes), never the other kiosks' heartbeats; an
idle stream is proven alive by the protocol's keep-alive events; a ring makes the others
catch up at random moments within sync.ring_jitter_s, not all at once. Real firebase-admin
against tests/rtdb_server.py (keep-alive every 0.5 s there).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from rtdb_server import RtdbServer
from sync_support import (  # noqa: F401 - fixtures
    Kiosk,
    fleet,
    server,
    thread_errors,
    wait_until,
)

pytestmark = pytest.mark.usefixtures("thread_errors")


class EventCount:
    """Counts the stream events an engine's callback gets (keep-alives never reach it)."""

    def __init__(self, kiosk: Kiosk) -> None:
        self.events: list[Any] = []
        self.lock = threading.Lock()
        engine = kiosk.engine
        original = engine._on_event

        def counting(event: Any) -> None:
            with self.lock:
                self.events.append((event.event_type, event.path, event.data))
            original(event)

        engine._on_event = counting  # type: ignore[method-assign]

    def take(self) -> list[Any]:
        with self.lock:
            events, self.events = self.events, []
        return events


def test_a_kiosks_stream_carries_no_other_kiosks_heartbeats(fleet, server: RtdbServer) -> None:
    kiosks = [fleet(name, heartbeat_s=0.2) for name in ("a", "b", "c", "d")]
    a = kiosks[0]
    count = EventCount(a)
    for kiosk in kiosks:
        kiosk.engine.start()
    assert wait_until(lambda: all(k.engine.status().listening for k in kiosks), 15)
    assert all(k.engine.wait_until_idle(15) for k in kiosks)
    count.take()
    time.sleep(2.0)  # b, c and d heartbeat about 10 times each meanwhile
    beats = (server.get_data("/kiosks/b/heartbeatAt"), server.get_data("/kiosks/c/heartbeatAt"))
    assert all(isinstance(beat, int) for beat in beats)
    assert count.take() == []
    assert a.engine.status().listening  # kept open by keep-alives, not by others' writes
    uid = kiosks[1].enroll("new@example.org", seed=3)
    assert wait_until(lambda: uid in a.table(), 10)  # a ring still wakes it
    rings = count.take()
    assert rings and len(rings) <= 3


@pytest.mark.slow
def test_an_idle_stream_is_kept_by_the_protocols_keep_alives(fleet, server: RtdbServer) -> None:
    """No write at all for longer than stream_silence_s: the keep-alive events prove the
    stream alive, so it is not torn down and opened again."""
    a = fleet("a", heartbeat_s=3600.0, stream_silence_s=2.0)
    a.engine.start()
    assert wait_until(lambda: a.engine._registration is not None and a.engine.status().listening, 10)
    first = a.engine._registration
    time.sleep(5.0)
    assert a.engine._registration is first and a.engine.status().listening
    assert server.listener_count() == 1


@pytest.mark.slow
def test_a_ring_wakes_the_others_at_random_moments_within_the_jitter(fleet, server: RtdbServer) -> None:
    listeners = [fleet(name, ring_jitter_s=3.0) for name in ("a", "c", "d", "e")]
    b = fleet("b")
    for kiosk in [*listeners, b]:
        kiosk.engine.run_pass()
    assert wait_until(lambda: all(k.engine._registration is not None for k in listeners), 10)
    assert wait_until(lambda: all(k.engine._catchup_due for k in listeners), 10)  # each stream's first event
    for kiosk in listeners:
        kiosk.engine.run_pass()  # that catch-up, at once: a (re)connection is never delayed
        assert not kiosk.engine._catchup_due and kiosk.engine._catchup_at is None
    uid = b.enroll("ring@example.org", seed=4)
    rang = time.monotonic()
    b.engine.run_pass()  # pushes, rings
    assert wait_until(lambda: all(k.engine._catchup_at is not None for k in listeners), 10)
    moments = [k.engine._catchup_at for k in listeners]
    assert all(rang <= m <= time.monotonic() + 3.0 for m in moments)
    assert len(set(moments)) == len(moments)  # not all at one moment
    assert not any(k.engine._catchup_due for k in listeners)
    # A second ring before the catch-up is served by the same catch-up.
    b.engine._remote.ring()
    time.sleep(0.3)
    assert [k.engine._catchup_at for k in listeners] == moments
    # Its own ring proves b's stream alive but asks b for nothing.
    assert wait_until(lambda: b.engine._registration is not None, 10)
    b.engine.run_pass()
    b.engine._remote.ring()
    time.sleep(0.3)
    assert not b.engine._catchup_due and b.engine._catchup_at is None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not all(uid in k.table() for k in listeners):
        for kiosk in listeners:
            kiosk.engine.run_pass()  # catches up only once its moment has come
        time.sleep(0.1)
    assert all(uid in k.table() for k in listeners)

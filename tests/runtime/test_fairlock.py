"""The engine's lock in `watchdog serve` is granted in arrival order, so checkpoints are not starved."""

from __future__ import annotations

import threading
import time

import pytest

from watchdog.commands.serve import FairLock


def wait_until(cond, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_waiters_get_the_lock_in_arrival_order():
    lock = FairLock()
    order: list[str] = []
    lock.acquire()

    def take(name: str) -> None:
        with lock:
            order.append(name)

    threads = []
    for i, name in enumerate(["checkpoint", "http", "source"]):
        t = threading.Thread(target=take, args=(name,))
        t.start()
        threads.append(t)
        wait_until(lambda i=i: len(lock._queue) == i + 1)
    # the thread that holds the lock asks again after releasing: it queues behind the others
    lock.release()
    take("holder-again")
    for t in threads:
        t.join()
    assert order == ["checkpoint", "http", "source", "holder-again"]


def test_it_is_reentrant_and_refuses_a_foreign_release():
    lock = FairLock()
    with lock, lock:
        assert lock._count == 2
    assert lock._owner is None
    with pytest.raises(RuntimeError, match="does not hold it"):
        lock.release()
    assert lock.acquire(blocking=False)
    other = []
    t = threading.Thread(target=lambda: other.append(lock.acquire(timeout=0.01)))
    t.start()
    t.join()
    assert other == [False] and not lock._queue
    lock.release()

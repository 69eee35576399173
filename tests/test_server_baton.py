"""The renderer's turn: sessions with work alternate step by step, and a waiting holder lets others on."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from dcvsr_engine.server.baton import Baton

pytestmark = pytest.mark.timeout(30)


def test_sessions_alternate_step_by_step():
    baton = Baton()
    order: list[str] = []
    ready = threading.Barrier(3)

    def worker(name: str) -> None:
        ready.wait()
        for _ in range(6):
            with baton.turn():
                order.append(name)
                time.sleep(0.005)

    threads = [threading.Thread(target=worker, args=(n,)) for n in "ab"]
    for t in threads:
        t.start()
    with baton.turn():  # hold the turn until both queue behind us
        ready.wait()
        time.sleep(0.05)
    for t in threads:
        t.join()
    assert sorted(order) == ["a"] * 6 + ["b"] * 6
    assert all(x != y for x, y in itertools.pairwise(order)), order  # never two steps in a row


def test_paused_holder_lets_others_render():
    baton = Baton()
    other_ran = threading.Event()

    def other() -> None:
        with baton.turn():
            other_ran.set()

    with baton.turn():
        t = threading.Thread(target=other)
        t.start()
        with baton.paused():  # e.g. waiting for a client's source frame
            assert other_ran.wait(5)
        assert baton.held
    t.join()
    assert not baton.held

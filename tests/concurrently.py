"""Running the same client work alone and at once, for the 'several clients' tests."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

Run = Callable[[str, dict, "threading.Barrier | None"], None]  # (name, frames out, barrier or None)


def alone_and_together(names: Iterable[str], run: Run, timeout: float,
                       before: Callable[[], None] = lambda: None) -> tuple[dict, dict]:
    """Each name's frames when run alone, then when all run at once (released together by a barrier).

    `before` runs ahead of each phase (e.g. emptying a cache so both phases really render).
    """
    names = list(names)
    before()
    alone: dict[str, dict] = {name: {} for name in names}
    for name in names:
        run(name, alone[name], None)
    before()
    together: dict[str, dict] = {name: {} for name in names}
    barrier = threading.Barrier(len(names))
    errors: list[BaseException] = []

    def guarded(name: str) -> None:
        try:
            run(name, together[name], barrier)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=guarded, args=(name,)) for name in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads), "a client did not finish in time"
    return alone, together

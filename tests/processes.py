"""Run test processes to the end, and never leave one behind."""

from __future__ import annotations

from collections.abc import Sequence
from multiprocessing.process import BaseProcess
from typing import Optional


def run_all(procs: Sequence[BaseProcess],
            timeout: float = 120.0) -> list[Optional[int]]:
    """Start ``procs``, wait for them, and give their exit codes.

    A process still running after ``timeout`` seconds is killed (its exit
    code is then negative), so a hung child fails the test instead of
    outliving it.
    """
    try:
        for p in procs:
            p.start()
    finally:
        for p in procs:
            if p.pid is None:
                continue
            p.join(timeout)
            if p.is_alive():
                p.kill()
                p.join(10)
    return [p.exitcode for p in procs]

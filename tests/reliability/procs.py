"""Helpers to run, watch and kill child processes -- every wait bounded.

Children are :mod:`multiprocessing` processes.  Crash tests use the
``fork`` start method (a new child costs a millisecond, so a test can kill
hundreds); concurrency tests that promise "every start method" use
``spawn``.  Progress crosses the process boundary through shared memory
(:func:`multiprocessing.RawArray`), which a SIGKILL cannot leave half
updated: each slot is one aligned 64-bit word.
"""

from __future__ import annotations

import multiprocessing as mp
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

FORK = mp.get_context('fork')
SPAWN = mp.get_context('spawn')

WAIT = 60.0
"""The longest any test waits for a child to make progress or finish."""

# slots of the progress array a looping child updates
IN_FLIGHT = 0  # the sequence number being written now (-1: none yet)
DONE = 1  # the last sequence number whose write returned (-1: none yet)
KEY = 2  # the index of the key being written


def progress_array(ctx: Any = FORK) -> Any:
    """A shared ``[in_flight, done, key]`` array, all ``-1``."""
    array = ctx.RawArray('q', 3)
    array[IN_FLIGHT] = array[DONE] = array[KEY] = -1
    return array


def wait_for(condition: Callable[[], bool], what: str,
             timeout: float = WAIT) -> None:
    """Poll ``condition`` until true; ``AssertionError`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f'gave up after {timeout}s waiting: {what}')
        time.sleep(0.0005)


def finish(proc: Any, timeout: float = WAIT) -> int:
    """Join ``proc``; kill it if it overstays.  Its exit code."""
    proc.join(timeout)
    if proc.is_alive():
        proc.kill()
        proc.join(5)
        raise AssertionError(f'{proc.name} did not finish in {timeout}s')
    return int(proc.exitcode)


@dataclass
class Killer:
    """Starts a looping writer, lets it run a random while, SIGKILLs it."""

    rng: random.Random
    max_delay: float = 0.02

    def run_and_kill(self, target: Callable[..., Any], args: tuple[Any, ...],
                     progress: Any, ctx: Any = FORK,
                     min_done: int | None = None) -> None:
        """Run ``target(*args)`` until it has done ``min_done`` writes, let
        it go on for up to :attr:`max_delay` seconds, then kill it."""
        proc = ctx.Process(target=target, args=args, daemon=True)
        proc.start()
        try:
            if min_done is not None:
                wait_for(lambda: progress[DONE] >= min_done or
                         not proc.is_alive(), 'the child to start writing')
            assert proc.is_alive(), f'writer died early: {proc.exitcode}'
            time.sleep(self.rng.uniform(0, self.max_delay))
        finally:
            proc.kill()
            proc.join(WAIT)
        assert proc.exitcode == -signal.SIGKILL, \
            f'writer ended with {proc.exitcode}, not by the kill'


LIMIT_BYTES = 1 << 30
"""The address space :func:`run_limited` gives a child."""

# The child's own peak memory: VmHWM of its address space.  (ru_maxrss is
# no use here: Linux carries the peak of the process before exec into it,
# which is the pytest process that started the child.)
_PEAK = (
    'def peak_rss_kib():\n'
    '    with open("/proc/self/status") as f:\n'
    '        return next(int(line.split()[1]) for line in f\n'
    '                    if line.startswith("VmHWM:"))\n')


def run_limited(code: str, *args: str,
                timeout: float = WAIT) -> subprocess.CompletedProcess[str]:
    """Run Python ``code`` (dedented) with ``args`` in a fresh interpreter
    limited to :data:`LIMIT_BYTES` of address space and ``timeout``
    seconds, so a read that runs away fails the test instead of hanging it
    or taking the machine's memory."""
    prelude = ('import resource\n'
               f'resource.setrlimit(resource.RLIMIT_AS, ({LIMIT_BYTES}, '
               f'{LIMIT_BYTES}))\n' + _PEAK)
    return subprocess.run(
        [sys.executable, '-c', prelude + textwrap.dedent(code), *args],
        capture_output=True, text=True, errors='replace', timeout=timeout)

"""Memoized work for the memoize tests, importable by ``spawn`` children.

Each function notes every computation it really does by appending a line to
a log file (an ignored argument), so a test counts computations across
threads and processes by counting lines.
"""

from __future__ import annotations

import os
import time
from typing import Any

import hutch


def note(log: str, text: str) -> None:
    """Append one line to ``log`` (one ``write`` with ``O_APPEND``)."""
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, f'{text}\n'.encode())
    finally:
        os.close(fd)


def computations(log: str) -> list[str]:
    """The lines ``log`` holds (none when it does not exist)."""
    try:
        with open(log) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def slow_square(x: int, log: str) -> int:
    note(log, f'square {x}')
    time.sleep(0.2)  # long enough for the others to arrive and wait
    return x * x


def open_stash(kind: str, path: str) -> hutch.Stash:
    if kind == 'sqlite':
        return hutch.SqliteStash(path)
    return hutch.DirectoryStash(path)


def square_in_child(kind: str, path: str, log: str, barrier: Any,
                    results: Any) -> None:
    """A child process: wait for the others, then call ``slow_square(7)``."""
    square = hutch.memoize(open_stash(kind, path), ignore=('log',))(slow_square)
    barrier.wait()
    results.put(square(7, log))


def key_in_child(args: Any, results: Any) -> None:
    """A child process: the key ``slow_square``'s memo gives ``args``."""
    square = hutch.memoize(hutch.DictionaryStash(), ignore=('log',))(slow_square)
    results.put(square.cache_key(args, 'log'))


def fill_bounded(path: str, start: int, count: int, max_items: int) -> None:
    """A child process: write ``count`` keys into a bounded SqliteStash."""
    stash = hutch.SqliteStash(path, max_items=max_items)
    for i in range(start, start + count):
        stash[f'k{i}'] = i
    stash.close()


def fib_in_child(path: str, n: int, barrier: Any, results: Any,
                 each: bool = False) -> None:
    """A child process: a recursive memoized Fibonacci on a shared stash
    (with ``each``, called for every number up to ``n`` in turn, so that
    each is an outermost call, which waits for its key's lock)."""
    @hutch.memoize(hutch.SqliteStash(path))
    def fib(k: int) -> int:
        return k if k < 2 else fib(k - 1) + fib(k - 2)

    barrier.wait()
    results.put([fib(k) for k in range(n + 1)][-1] if each else fib(n))



def gated_square(x: int, log: str, gate: str) -> int:
    """``x * x``, once the file ``gate`` exists (polled)."""
    note(log, f'gated {x}')
    deadline = time.monotonic() + 60
    while not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.01)
    return x * x


def gated_square_in_child(path: str, log: str, gate: str) -> None:
    """A child process: call ``gated_square(7)`` on a SqliteStash at
    ``path``, holding the call's lock until ``gate`` exists."""
    square = hutch.memoize(hutch.SqliteStash(path),
                           ignore=('log', 'gate'))(gated_square)
    square(7, log, gate)

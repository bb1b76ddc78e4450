"""One computation at a time per key: locks made on demand, per key.

A memoized miss holds the lock of its key while it computes and stores, so
that other callers of the same key wait for the result instead of computing
it again.  :class:`KeyLocks` serves threads, :class:`TaskKeyLocks` the tasks
of an asyncio event loop; both keep a lock only while someone holds or waits
for it, so a long run over many keys does not pile up locks.  Processes are
kept apart by a :class:`~hutch._files.FileLock` named by the stash's path and
the key (see :func:`lock_path`).

>>> locks = KeyLocks()
>>> with locks.hold('k'):
...     len(locks)
1
>>> len(locks)
0
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any, Optional

from ._files import FileLock
from .errors import LockTimeoutError

__all__ = ['KeyLocks', 'TaskKeyLocks', 'lock_path', 'shared_path',
           'lock_in_loop']


class KeyLocks:
    """A lock per key for threads, alive while held or waited for."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, list[Any]] = {}  # key -> [lock, users]

    def __len__(self) -> int:
        return len(self._locks)

    @contextlib.contextmanager
    def hold(self, key: str) -> Iterator[None]:
        """Hold ``key``'s lock for the ``with`` block."""
        with self._guard:
            entry = self._locks.get(key)
            if entry is None:
                entry = self._locks[key] = [threading.Lock(), 0]
            entry[1] += 1
        try:
            with entry[0]:
                yield
        finally:
            with self._guard:
                entry[1] -= 1
                if entry[1] == 0:
                    del self._locks[key]


class TaskKeyLocks:
    """A lock per key for the tasks of each event loop."""

    def __init__(self) -> None:
        self._loops: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop,
            dict[str, list[Any]]] = weakref.WeakKeyDictionary()
        self._guard = threading.Lock()  # loops may run in several threads

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        """Hold ``key``'s lock (in the running loop) for the block."""
        loop = asyncio.get_running_loop()
        with self._guard:
            locks = self._loops.setdefault(loop, {})
        entry = locks.get(key)
        if entry is None:
            entry = locks[key] = [asyncio.Lock(), 0]
        entry[1] += 1
        try:
            async with entry[0]:
                yield
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                del locks[key]


def lock_path(stash: Any, key: str) -> Optional[str]:
    """The path whose :class:`FileLock` keeps processes sharing ``stash``
    from computing ``key`` at once, or ``None`` when the stash is not shared
    by processes (only a stash whose data lives at a path is).

    There is one lock per key, never one shared by several keys: a memoized
    function may call another (or itself) while it holds its key's lock,
    and locks shared by keys could then wait for each other in a cycle.
    """
    path = shared_path(stash)
    return None if path is None else os.path.join(path, 'memo', key)


def shared_path(stash: Any) -> Optional[str]:
    """The path of ``stash`` when processes may share it, else ``None``
    (only a stash whose data lives at a path is shared)."""
    path = getattr(stash, 'path', None)
    if not getattr(stash, 'shareable', False) or path is None:
        return None
    return str(os.fspath(path))


async def lock_in_loop(path: str, timeout: Optional[float]) -> FileLock:
    """The held lock of ``path``, taken without blocking the event loop: at
    once when it is free, else by waiting in a worker thread."""
    lock = FileLock(path, timeout=0)
    try:
        lock.acquire()
        return lock
    except LockTimeoutError:
        pass
    lock = FileLock(path, timeout=timeout)
    waiting = asyncio.get_running_loop().run_in_executor(None, lock.acquire)
    try:
        await waiting
    except BaseException:
        # cancelled while the thread waits: let go once it has the lock
        waiting.add_done_callback(lambda _: lock.release())
        raise
    return lock

"""One computation at a time per key: locks made on demand, per key.

A memoized miss holds the lock of its key while it computes and stores, so
that other callers of the same key wait for the result instead of computing
it again.  :class:`KeyLocks` serves threads, :class:`TaskKeyLocks` the tasks
of an asyncio event loop; both keep a lock only while someone holds or waits
for it, so a long run over many keys does not pile up locks.  Processes are
kept apart by :class:`StripedLocks`: file locks named by the stash's path and
the key.

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
import zlib
from collections.abc import AsyncIterator, Iterator
from typing import Any, Optional

from ._files import FileLock
from .errors import LockTimeoutError

__all__ = ['KeyLocks', 'TaskKeyLocks', 'StripedLocks', 'shared_path',
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


class StripedLocks:
    """Locks that keep threads and processes sharing a stash from computing
    one key at once.

    Keys are spread over :attr:`stripes` stripes (by a stable hash, the same
    in every process); each stripe is a thread lock and a :class:`FileLock`,
    made once and reused, so a miss does not pay for making a lock file.
    Calls of two different keys wait for each other only when their keys
    share a stripe (one chance in :attr:`stripes` for a pair).

    :param base: the path the lock files are named by (a stash's path and
        the function's name)
    :param timeout: seconds to wait for another process; ``None``: as long
        as it lives
    """

    stripes = 1024

    def __init__(self, base: str, timeout: Optional[float]) -> None:
        self.base = base
        self.timeout = timeout
        self._guard = threading.Lock()
        self._locks: dict[int, tuple[threading.Lock, FileLock]] = {}

    def path(self, key: str) -> str:
        """The path of the lock file of ``key``'s stripe."""
        return self._path(self._stripe(key))

    def _stripe(self, key: str) -> int:
        return zlib.crc32(key.encode('utf-8', 'surrogatepass')) % self.stripes

    def _path(self, stripe: int) -> str:
        return os.path.join(self.base, str(stripe))

    def of(self, key: str) -> tuple[threading.Lock, FileLock]:
        """The thread lock and file lock of ``key``'s stripe: take both,
        in that order."""
        stripe = self._stripe(key)
        locks = self._locks.get(stripe)
        if locks is None:
            with self._guard:
                locks = self._locks.get(stripe)
                if locks is None:
                    locks = self._locks[stripe] = (
                        threading.Lock(),
                        FileLock(self._path(stripe), timeout=self.timeout))
        return locks


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

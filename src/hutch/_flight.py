"""One computation at a time per key: locks made on demand, per key.

A memoized miss holds the lock of its key while it computes and stores, so
that other callers of the same key wait for the result instead of computing
it again.  :class:`KeyLocks` serves threads, :class:`TaskKeyLocks` the tasks
of an asyncio event loop; both keep a lock only while someone holds or waits
for it, so a long run over many keys does not pile up locks.  Processes are
kept apart by :class:`StripedLocks`, file locks named by the stash's path
and the key.

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
import contextvars
import os
import threading
import weakref
import zlib
from collections.abc import AsyncIterator, Iterator
from typing import Any, Optional

from ._locks import FileLock
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
    def hold(self, key: str) -> Iterator[bool]:
        """Hold ``key``'s lock for the ``with`` block, which is given
        whether another thread held it first."""
        with self._guard:
            entry = self._locks.get(key)
            if entry is None:
                entry = self._locks[key] = [threading.Lock(), 0]
            entry[1] += 1
        try:
            lock = entry[0]
            waited = not lock.acquire(blocking=False)
            if waited:
                lock.acquire()
            try:
                yield waited
            finally:
                lock.release()
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


#: whether this thread or task is inside a memoized computation that holds
#: a stripe: such a computation never waits for another stripe
_holding: contextvars.ContextVar[bool] = contextvars.ContextVar(
    'hutch_memo_holding', default=False)


class StripedLocks:
    """Locks that keep the threads and processes sharing a stash from
    computing one call at once.

    Keys are spread over :attr:`stripes` stripes by a stable hash (the same
    in every process); a stripe is a thread lock and a lock file, made once
    and reused, so a miss pays for no new lock file.  Two calls wait for
    each other only when their keys share a stripe.

    Locks shared by keys could wait for each other in a cycle when memoized
    functions nest (``f(1)`` holds stripe A and calls ``g(2)`` in stripe B,
    while another process holds B and calls something in A).  So only an
    outermost call waits for its stripe; a call made inside another
    memoized computation takes its stripe only if it is free at once, and
    otherwise computes without it (risking a duplicate computation, never a
    deadlock).

    :param base: the path the lock files are named by
    :param timeout: seconds an outermost call waits for another process;
        ``None``: as long as that process lives
    """

    stripes = 1024

    def __init__(self, base: str, timeout: Optional[float]) -> None:
        self.base = base
        self.timeout = timeout
        self._guard = threading.Lock()
        self._locks: dict[int, tuple[threading.Lock, FileLock, FileLock]] = {}

    def path(self, key: str) -> str:
        """The path of the lock file of ``key``'s stripe."""
        stripe = zlib.crc32(key.encode('utf-8', 'surrogatepass')) % self.stripes
        return os.path.join(self.base, str(stripe))

    def _of(self, key: str) -> tuple[threading.Lock, FileLock, FileLock]:
        stripe = zlib.crc32(key.encode('utf-8', 'surrogatepass')) % self.stripes
        locks = self._locks.get(stripe)
        if locks is None:
            with self._guard:
                locks = self._locks.get(stripe)
                if locks is None:
                    path = os.path.join(self.base, str(stripe))
                    locks = self._locks[stripe] = (
                        threading.Lock(),
                        FileLock(path, timeout=self.timeout),
                        FileLock(path, timeout=0))
        return locks

    @contextlib.contextmanager
    def hold(self, key: str) -> Iterator[bool]:
        """Hold ``key``'s stripe for the block (see the class for when a
        nested call goes without); the block is given whether the call may
        have waited for another (and must look for its result again)."""
        thread_lock, waiting, trying = self._of(key)
        if not _holding.get():
            waited = not thread_lock.acquire(blocking=False)
            if waited:
                thread_lock.acquire()
            try:
                try:
                    trying.acquire()
                    file_lock = trying
                except LockTimeoutError:
                    waited = True
                    waiting.acquire()
                    file_lock = waiting
                token = _holding.set(True)
                try:
                    yield waited
                finally:
                    _holding.reset(token)
                    file_lock.release()
            finally:
                thread_lock.release()
            return
        if not thread_lock.acquire(blocking=False):
            yield True  # held by this thread already, or busy: never wait
            return
        try:
            try:
                trying.acquire()
                got = True
            except LockTimeoutError:  # another process has it: go without
                got = False
            try:
                yield True
            finally:
                if got:
                    trying.release()
        finally:
            thread_lock.release()

    @contextlib.asynccontextmanager
    async def hold_in_loop(self, key: str) -> AsyncIterator[None]:
        """:meth:`hold` for a task: waits in a worker thread, never in the
        event loop."""
        path = self.path(key)
        lock: Optional[FileLock]
        if not _holding.get():
            lock = await lock_in_loop(path, self.timeout)
        else:
            lock = FileLock(path, timeout=0)
            try:
                lock.acquire()
            except LockTimeoutError:
                lock = None
        token = _holding.set(True)
        try:
            yield
        finally:
            _holding.reset(token)
            if lock is not None:
                lock.release()


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

"""One computation at a time per key: locks made on demand, per key.

A memoized miss holds the lock of its key while it computes and stores, so
that other callers of the same key wait for the result instead of computing
it again.  :class:`KeyLocks` serves threads, :class:`TaskKeyLocks` the tasks
of an asyncio event loop; both keep a lock only while someone holds or waits
for it, so a long run over many keys does not pile up locks.  Processes are
kept apart by :class:`StripedLocks`: a byte of one lock file per stash
and function, named by the stash's path.

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
import errno
import fcntl
import hashlib
import os
import threading
import time
import weakref
import zlib
from collections.abc import AsyncIterator, Iterator
from typing import Any, Optional

from . import _process
from ._locks import open_lock_file
from .errors import LockTimeoutError

__all__ = ['KeyLocks', 'TaskKeyLocks', 'StripedLocks', 'shared_path']


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
            waited = not lock.acquire(False)
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


#: take a record lock only if it is free at once; let go of one
_TRY_EXCLUSIVE = fcntl.LOCK_EX | fcntl.LOCK_NB
_UNLOCK = fcntl.LOCK_UN
_lockf = fcntl.lockf


class _StripeFile:
    """One lock file, kept open by this process, whose bytes are the
    stripes: a stripe is taken with a POSIX record lock (``fcntl.lockf``)
    on its byte, which excludes other processes -- and is dropped by the
    kernel when its holder dies.

    The file lives in the user's private lock folder (see
    :func:`hutch._locks.lock_dir`), opened without following links, one per
    stash and function: a miss opens, creates and removes no file.  Record
    locks belong to the process, so the threads and tasks of one process
    are kept apart by :class:`StripedLocks`' thread locks, and the file is
    never closed (closing any descriptor of it would drop every lock this
    process holds on it).
    """

    def __init__(self, base: str) -> None:
        digest = hashlib.sha1(os.fsencode(os.path.realpath(base))).hexdigest()
        self.name = f'memo-{digest[:32]}.lock'
        self._fd: Optional[int] = None
        self._pid = -1
        self._guard = threading.Lock()

    def _open(self) -> int:
        """This process's descriptor of the file, opened on first use
        (and after a fork)."""
        with self._guard:
            if self._fd is None or self._pid != _process.pid:
                # a forked child holds no record lock; it opens its own
                # descriptor and leaves the inherited one alone
                self._fd = open_lock_file(self.name)
                self._pid = _process.pid
            return self._fd

    def try_lock(self, stripe: int) -> bool:
        """Take ``stripe`` if no other process holds it."""
        fd = self._fd
        if fd is None or self._pid != _process.pid:
            fd = self._open()
        try:
            _lockf(fd, _TRY_EXCLUSIVE, 1, stripe)
            return True
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.EACCES):
                return False
            raise

    def lock(self, stripe: int, timeout: Optional[float]) -> None:
        """Take ``stripe``, waiting at most ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.001
        while not self.try_lock(stripe):
            if deadline is not None and time.monotonic() >= deadline:
                raise LockTimeoutError(
                    f'timed out after {timeout}s waiting for another '
                    'process computing the same call', path=self.name)
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def unlock(self, stripe: int) -> None:
        fd = self._fd  # open: this process took the stripe
        assert fd is not None
        _lockf(fd, _UNLOCK, 1, stripe)


#: what :meth:`StripedLocks.take` took: nothing (a nested call that goes
#: without), the thread lock, the thread lock and the byte (nested), or all
#: that as the outermost call
_NOTHING, _THREAD, _THREAD_AND_BYTE, _OUTERMOST = range(4)

#: a stripe, what of it was taken, and the token that marks this context
#: as holding one (outermost calls only)
Held = tuple[int, int, Optional[contextvars.Token[bool]]]


class StripedLocks:
    """Locks that keep the threads and processes sharing a stash from
    computing one call at once.

    Keys are spread over :attr:`stripes` stripes by a stable hash (the same
    in every process); a stripe is a thread lock and a byte of one lock
    file (:class:`_StripeFile`), so a miss pays two system calls for it.
    Two calls wait for each other only when their keys share a stripe.

    Locks shared by keys could wait for each other in a cycle when memoized
    functions nest (``f(1)`` holds stripe A and calls ``g(2)`` in stripe B,
    while another process holds B and calls something in A).  So only an
    outermost call waits for its stripe; a call made inside another
    memoized computation takes its stripe only if it is free at once, and
    otherwise computes without it (risking a duplicate computation, never a
    deadlock).

    :param base: the path the lock file is named by
    :param timeout: seconds an outermost call waits for another process;
        ``None``: as long as that process lives
    """

    stripes = 1024

    def __init__(self, base: str, timeout: Optional[float]) -> None:
        self.base = base
        self.timeout = timeout
        self._file = _StripeFile(base)
        self._threads = [threading.Lock() for _ in range(self.stripes)]

    def stripe(self, key: str) -> int:
        """The stripe of ``key``."""
        try:
            data = key.encode()  # strict UTF-8 takes the encoder's fast path
        except UnicodeEncodeError:  # a lone surrogate; for any other key
            data = key.encode('utf-8', 'surrogatepass')  # both agree
        return zlib.crc32(data) % self.stripes

    def _take(self, stripe: int) -> bool:
        """Take ``stripe`` (its thread lock, then its byte), waiting as an
        outermost call does; whether anyone held it first."""
        thread_lock = self._threads[stripe]
        waited = not thread_lock.acquire(False)
        if waited:
            thread_lock.acquire()
        try:
            if not self._file.try_lock(stripe):
                waited = True
                self._file.lock(stripe, self.timeout)
        except BaseException:
            thread_lock.release()
            raise
        return waited

    def _give(self, stripe: int) -> None:
        self._file.unlock(stripe)
        self._threads[stripe].release()

    def take(self, key: str) -> tuple[bool, Held]:
        """Take ``key``'s stripe (see the class for when a nested call goes
        without it): whether the call may have waited for another (and must
        look for its result again), and what :meth:`give` takes to let go.

        This and :meth:`give` are :meth:`hold` without a generator, for the
        miss of a memoized call, which pays for every step.
        """
        stripe = self.stripe(key)
        if not _holding.get():
            waited = self._take(stripe)
            return waited, (stripe, _OUTERMOST, _holding.set(True))
        thread_lock = self._threads[stripe]
        if not thread_lock.acquire(False):
            # held by this thread already, or busy: never wait
            return True, (stripe, _NOTHING, None)
        try:
            got = self._file.try_lock(stripe)  # another process: go without
        except BaseException:
            thread_lock.release()
            raise
        return True, (stripe, _THREAD_AND_BYTE if got else _THREAD, None)

    def give(self, held: Held) -> None:
        """Let go of what :meth:`take` took."""
        stripe, what, token = held
        if what == _OUTERMOST:
            assert token is not None
            _holding.reset(token)
            self._give(stripe)
        elif what == _THREAD_AND_BYTE:
            self._give(stripe)
        elif what == _THREAD:
            self._threads[stripe].release()

    @contextlib.contextmanager
    def hold(self, key: str) -> Iterator[bool]:
        """Hold ``key``'s stripe for the block (see :meth:`take`); the block
        is given whether the call may have waited for another."""
        waited, held = self.take(key)
        try:
            yield waited
        finally:
            self.give(held)

    @contextlib.asynccontextmanager
    async def hold_in_loop(self, key: str) -> AsyncIterator[None]:
        """:meth:`hold` for a task: waits in a worker thread, never in the
        event loop."""
        stripe = self.stripe(key)
        if _holding.get():
            with self.hold(key):
                yield
            return
        thread_lock = self._threads[stripe]
        if thread_lock.acquire(False):
            if not self._file.try_lock(stripe):
                thread_lock.release()
                await self._take_in_thread(stripe)
        else:
            await self._take_in_thread(stripe)
        token = _holding.set(True)
        try:
            yield
        finally:
            _holding.reset(token)
            self._give(stripe)

    async def _take_in_thread(self, stripe: int) -> None:
        waiting = asyncio.get_running_loop().run_in_executor(
            None, self._take, stripe)
        try:
            await waiting
        except BaseException:
            # cancelled while the thread waits: let go once it has it
            waiting.add_done_callback(
                lambda f: None if f.cancelled() or f.exception() is not None
                else self._give(stripe))
            raise


def shared_path(stash: Any) -> Optional[str]:
    """The path of ``stash`` when processes may share it, else ``None``
    (only a stash whose data lives at a path is shared)."""
    path = getattr(stash, 'path', None)
    if not getattr(stash, 'shareable', False) or path is None:
        return None
    return str(os.fspath(path))

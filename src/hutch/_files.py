"""File primitives: atomic writes and inter-process locks.

Everything durable in hutch goes through here, so the two file guarantees of
the design are kept in one place:

* **Atomic writes** -- data goes to a uniquely named temporary file in the
  destination folder, then :func:`os.replace` moves it into place.  A reader
  sees the old content or the new, never a torn file; a writer killed midway
  leaves at most a stale temporary (a dot-file ending in :data:`TEMP_SUFFIX`)
  that no stash mistakes for data.
* **No litter** -- lock files never sit beside the data: :class:`FileLock`
  keeps them in the system's temporary folder, keyed by the data path.
* **No room, said plainly** -- a write that finds the disk or quota full,
  or passes the file size limit, removes its temporary file and raises
  :class:`~hutch.errors.DiskFullError` naming the final path (and the
  stash key, when the caller gives it), never the temporary.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import io
import itertools
import os
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Optional

from .errors import DiskFullError, LockTimeoutError, PersistableError
from .util import _FreshLocks

__all__ = ['TEMP_SUFFIX', 'check_path', 'check_folder', 'path_type_error',
           'is_temp_name',
           'atomic_write', 'atomic_writer', 'read_file', 'read_head', 'FileLock',
           'lock_dir', 'remove_stale_temps']

TEMP_SUFFIX = '.hutch-tmp'
"""Every temporary file hutch writes is a dot-file ending in this suffix."""

_counter = itertools.count()
_READ_FLAGS = os.O_RDONLY | getattr(os, 'O_CLOEXEC', 0)
_TEMP_FLAGS = (os.O_WRONLY | os.O_CREAT | os.O_EXCL
               | getattr(os, 'O_CLOEXEC', 0))


def path_type_error(path: object) -> TypeError:
    """The error for a path argument that is neither a ``str`` nor path-like."""
    return TypeError(f'path must be a str or a path-like object, '
                     f'got {type(path).__name__}: {path!r}')


def check_path(path: object) -> Path:
    """``path`` as a :class:`~pathlib.Path`; else :func:`path_type_error`.

    >>> check_path('data/a.dat')
    PosixPath('data/a.dat')
    >>> check_path(3)
    Traceback (most recent call last):
    ...
    TypeError: path must be a str or a path-like object, got int: 3
    """
    if not isinstance(path, (str, os.PathLike)):
        raise path_type_error(path)
    return Path(path)


def check_folder(path: Path, what: str = 'path') -> Path:
    """``path``, when it is a folder or could be made one; else a
    ``ValueError`` naming the file in the way (``path`` itself or one of
    its parents).  Symlinks are followed; a path that can't be looked at
    (no permission) passes.

    >>> import tempfile
    >>> notes = Path(tempfile.mkdtemp()) / 'notes.txt'
    >>> _ = notes.write_text('mine')
    >>> check_folder(notes / 'sub')  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: path is not a folder: .../notes.txt (so .../notes.txt/sub cannot be one)
    """
    blocker = path
    while True:
        try:
            st = os.stat(blocker)
        except (FileNotFoundError, NotADirectoryError):
            if blocker.parent == blocker:
                return path
            blocker = blocker.parent
            continue
        except OSError:  # can't look (no permission ...): can't tell
            return path
        if stat.S_ISDIR(st.st_mode):
            return path
        break
    where = '' if blocker == path else f' (so {path} cannot be one)'
    raise ValueError(f'{what} is not a folder: {blocker}{where}')


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is one of hutch's temporary files.

    >>> is_temp_name('.data.dat.12.0.hutch-tmp'), is_temp_name('data.dat')
    (True, False)
    """
    return name.startswith('.') and name.endswith(TEMP_SUFFIX)


_NO_ROOM = frozenset(
    code for code in (errno.ENOSPC, getattr(errno, 'EDQUOT', None),
                      errno.EFBIG) if code is not None)
"""The errors of a write that found no room: disk full, quota, size limit."""


def _no_room(e: BaseException, path: str | os.PathLike[str],
             key: Optional[Any]) -> Optional[DiskFullError]:
    """The :class:`~hutch.errors.DiskFullError` that stands for ``e``, an
    error of writing ``path`` (for stash key ``key``), when ``e`` means there
    was no room; ``None`` for any other error."""
    if isinstance(e, OSError) and not isinstance(e, PersistableError) \
            and e.errno in _NO_ROOM:
        return DiskFullError('no room to write', key=key, path=path,
                             errno=e.errno)
    return None


def _open_temp(path: str | os.PathLike[str],
               key: Optional[Any]) -> tuple[int, str]:
    folder, name = os.path.split(path)
    while True:
        tmp = os.path.join(
            folder, f'.{name}.{os.getpid()}.{next(_counter)}{TEMP_SUFFIX}')
        try:
            return os.open(tmp, _TEMP_FLAGS, 0o666), tmp
        except FileExistsError:
            # left by an earlier process with our pid: pick the next number
            continue
        except OSError as e:  # no room even for the name
            full = _no_room(e, path, key)
            if full is not None:
                raise full from e
            raise


def _discard(tmp: str) -> None:
    """Remove the temporary file of a write that failed, if it is there."""
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass


@contextmanager
def atomic_writer(path: str | os.PathLike[str], durable: bool = False,
                  key: Optional[Any] = None) -> Iterator[IO[bytes]]:
    """Open a binary file that appears at ``path`` only if the block succeeds.

    Whatever fails, the temporary file is removed.  When the write finds no
    room (a full disk or quota, the file size limit) it raises
    :class:`~hutch.errors.DiskFullError` naming ``path`` and ``key``.

    :param path: the final file name; its folder must exist
    :param durable: ``fsync`` the data before the rename (survives power
        loss, not only process death), at a cost in speed
    :param key: the stash key being written, named in errors

    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> with atomic_writer(os.path.join(d, 'x.bin')) as f:
    ...     _ = f.write(b'hello')
    >>> os.listdir(d)
    ['x.bin']
    """
    target = Path(path)
    fd, tmp = _open_temp(target, key)
    try:
        with os.fdopen(fd, 'wb') as f:
            yield f
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException as e:
        _discard(tmp)
        full = _no_room(e, target, key)
        if full is not None:
            raise full from e
        raise


_PREALLOCATE = 1 << 20
_NO_PREALLOCATION = frozenset(
    code for code in (errno.EOPNOTSUPP, getattr(errno, 'ENOTSUP', None),
                      errno.EINVAL, errno.ENOSYS) if code is not None)


def _preallocate(fd: int, chunks: Sequence[bytes | memoryview]) -> None:
    """Reserve the room of a large file before writing it.

    A file system that allocates blocks as data arrives (ext4's delayed
    allocation) writes a large file in one extent, and about 40% faster
    (measured on 100 MB: 41 ms against 73 ms), when told its size first,
    as numpy's own ``tofile`` does; a full disk is found before anything is
    written.  File systems that can't reserve room are written as usual.
    """
    if not hasattr(os, 'posix_fallocate') or (
            len(chunks) == 1 and len(chunks[0]) < _PREALLOCATE):
        return  # the common case of one small value, decided at once
    total = sum(memoryview(c).nbytes for c in chunks)
    if total < _PREALLOCATE:
        return
    try:
        os.posix_fallocate(fd, 0, total)
    except OSError as e:
        if e.errno not in _NO_PREALLOCATION:
            raise  # no room (DiskFullError from the caller), or worse


def atomic_write(path: str | os.PathLike[str],
                 data: bytes | memoryview | Sequence[bytes | memoryview],
                 durable: bool = False, key: Optional[Any] = None) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_writer`,
    whose errors it raises).

    :param data: the bytes, or chunks of bytes written one after another
        with one ``write`` each (a serializer's
        :meth:`~hutch.serial.Serializer.encode`), so large values are
        never joined in memory
    """
    chunks = [data] if isinstance(data, (bytes, bytearray, memoryview)) \
        else data
    fd, tmp = _open_temp(path, key)
    try:
        try:
            _preallocate(fd, chunks)
            for chunk in chunks:
                n = os.write(fd, chunk)
                if n < memoryview(chunk).nbytes:
                    # a short write (or one above the kernel's limit per
                    # call): finish it
                    view = memoryview(chunk).cast('B')[n:]
                    while view:
                        view = view[os.write(fd, view):]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException as e:
        _discard(tmp)
        full = _no_room(e, path, key)
        if full is not None:
            raise full from e
        raise


_READ_SIZE = 1 << 16


def read_file(path: str | os.PathLike[str]) -> bytes:
    """The whole content of the file at ``path``, read the fastest way.

    One ``open`` and, for files under 64 KiB, one ``read`` -- about twice as
    fast as the built-in ``open().read()`` for the small files stashes hold.
    A short read of a regular file means its end (files written by
    :func:`atomic_write` never change in place).

    :raises FileNotFoundError: and the other errors of :func:`os.open`
    """
    fd = os.open(path, _READ_FLAGS)
    try:
        data = os.read(fd, _READ_SIZE)
        if len(data) == _READ_SIZE:
            parts = [data]
            while True:
                more = os.read(fd, 1 << 20)
                if not more:
                    break
                parts.append(more)
            data = b''.join(parts)
        return data
    finally:
        os.close(fd)


def read_head(path: str | os.PathLike[str], size: int = _READ_SIZE
              ) -> tuple[bytes, Optional[io.FileIO]]:
    """The content of the regular file at ``path`` when it holds at most
    ``size`` bytes; else its first ``size`` bytes and the file itself, open
    for reading (unbuffered) after them.

    Small files are read as :func:`read_file` reads them, with one ``open``
    and one ``read``; a larger one is handed back open so that a serializer
    can read it straight into the final memory of its value, or map it.
    The caller closes it.

    :raises IsADirectoryError: for a folder, or anything but a regular file
    :raises FileNotFoundError: and the other errors of :func:`os.open`
    """
    fd = os.open(path, _READ_FLAGS)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, 'not a regular file',
                                    os.fspath(path))
        data = os.read(fd, size)
        if st.st_size <= size and len(data) < size:
            os.close(fd)
            return data, None
        return data, io.FileIO(fd, 'rb', closefd=True)
    except BaseException:
        os.close(fd)
        raise


def lock_dir() -> Path:
    """The folder that holds hutch's lock files (outside every data folder).

    It is ``$HUTCH_LOCK_DIR`` when set, else ``hutch-locks-<uid>`` in the
    system's temporary folder.
    """
    env = os.environ.get('HUTCH_LOCK_DIR')
    if env:
        folder = Path(env)
    else:
        uid = os.getuid() if hasattr(os, 'getuid') else 0
        folder = Path(tempfile.gettempdir()) / f'hutch-locks-{uid}'
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


class FileLock(_FreshLocks):
    """An advisory, inter-process (and inter-thread) lock named by a data path.

    The lock is an ``flock`` on a file in :func:`lock_dir`, so nothing appears
    beside the data.  The kernel drops the lock when its holder dies, so a
    lock can never be left behind by a killed process.  The lock is not
    re-entrant: a thread must not acquire it twice.

    :param path: the data this lock guards (need not exist)
    :param timeout: seconds to wait before :class:`LockTimeoutError`;
        ``None`` waits for ever
    :param shared: take a shared (reader) lock instead of an exclusive one

    >>> import tempfile, os
    >>> data = os.path.join(tempfile.mkdtemp(), 'some.dat')
    >>> with FileLock(data):
    ...     os.path.exists(data)
    False
    """

    _LOCKS = {'_tlock': threading.Lock}

    def __init__(self, path: str | os.PathLike[str],
                 timeout: Optional[float] = 60.0, shared: bool = False) -> None:
        if timeout is not None and (isinstance(timeout, bool) or
                                    not isinstance(timeout, (int, float))):
            raise TypeError(f'timeout must be a number or None, got {timeout!r}')
        if timeout is not None and timeout < 0:
            raise ValueError(f'timeout must not be negative, got {timeout}')
        self.path = Path(path)
        self.timeout = timeout
        self.shared = shared
        digest = hashlib.sha1(
            os.fsencode(os.path.abspath(path))).hexdigest()[:32]
        self.lock_path = lock_dir() / f'{digest}.lock'
        self._fd: Optional[int] = None
        self._tlock = threading.Lock()

    def acquire(self) -> None:
        """Take the lock, waiting at most :attr:`timeout` seconds."""
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC
        try:
            fd = os.open(self.lock_path, flags, 0o600)
        except FileNotFoundError:  # the lock folder was cleaned away
            self.lock_path.parent.mkdir(mode=0o700, parents=True,
                                        exist_ok=True)
            fd = os.open(self.lock_path, flags, 0o600)
        try:
            self._wait_for(fd)
        except BaseException:
            # a timeout, an OS error, or an interrupt while waiting: never
            # keep the descriptor (and so the lock) of a failed acquire
            os.close(fd)
            raise
        with self._tlock:
            self._fd = fd

    def _wait_for(self, fd: int) -> None:
        mode = fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX
        deadline = None if self.timeout is None else \
            time.monotonic() + self.timeout
        delay = 0.001
        while True:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                return
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES):
                    raise PersistableError(
                        f'cannot lock: {e}', path=self.path) from e
            if deadline is not None and time.monotonic() >= deadline:
                raise LockTimeoutError(
                    f'timed out after {self.timeout}s waiting for lock',
                    path=self.path)
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def release(self) -> None:
        """Let go of the lock (a no-op when not held)."""
        with self._tlock:
            fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor drops the flock

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state['_fd'] = None  # a copy does not hold the lock
        return state


def remove_stale_temps(folder: str | os.PathLike[str],
                       keep: Callable[[str], bool] = lambda n: False) -> int:
    """Delete hutch temporary files in ``folder``; return how many went.

    Only called by ``clear()``-like operations: a temp file that is still
    being written by a live writer makes that writer's rename fail, which is
    what clearing during a write should do.
    """
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return 0
    for entry in entries:
        if is_temp_name(entry.name) and not keep(entry.name):
            try:
                os.unlink(entry.path)
                removed += 1
            except FileNotFoundError:
                pass
    return removed

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
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import itertools
import os
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, NoReturn, Optional

from .errors import ForeignFileError, LockTimeoutError, PersistableError
from .util import _FreshLocks

__all__ = ['TEMP_SUFFIX', 'check_path', 'path_type_error', 'is_temp_name',
           'atomic_write', 'atomic_writer', 'read_file', 'FileLock',
           'lock_dir', 'remove_stale_temps']

TEMP_SUFFIX = '.hutch-tmp'
"""Every temporary file hutch writes is a dot-file ending in this suffix."""

_counter = itertools.count()
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


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is one of hutch's temporary files.

    >>> is_temp_name('.data.dat.12.0.hutch-tmp'), is_temp_name('data.dat')
    (True, False)
    """
    return name.startswith('.') and name.endswith(TEMP_SUFFIX)


def _open_temp(path: str | os.PathLike[str]) -> tuple[int, str]:
    folder, name = os.path.split(path)
    while True:
        tmp = os.path.join(
            folder, f'.{name}.{os.getpid()}.{next(_counter)}{TEMP_SUFFIX}')
        try:
            return os.open(tmp, _TEMP_FLAGS, 0o666), tmp
        except FileExistsError:
            # left by an earlier process with our pid: pick the next number
            continue


def _discard(tmp: str) -> None:
    """Remove the temporary file of a write that failed, if it is there."""
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass


@contextmanager
def atomic_writer(path: str | os.PathLike[str],
                  durable: bool = False) -> Iterator[IO[bytes]]:
    """Open a binary file that appears at ``path`` only if the block succeeds.

    :param path: the final file name; its folder must exist
    :param durable: ``fsync`` the data before the rename (survives power
        loss, not only process death), at a cost in speed

    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> with atomic_writer(os.path.join(d, 'x.bin')) as f:
    ...     _ = f.write(b'hello')
    >>> os.listdir(d)
    ['x.bin']
    """
    target = Path(path)
    fd, tmp = _open_temp(target)
    try:
        with os.fdopen(fd, 'wb') as f:
            yield f
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        _discard(tmp)
        raise


def atomic_write(path: str | os.PathLike[str], data: bytes,
                 durable: bool = False) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_writer`)."""
    fd, tmp = _open_temp(path)
    try:
        try:
            n = os.write(fd, data)
            if n < len(data):  # rare: a short write; finish it
                view = memoryview(data)[n:]
                while view:
                    view = view[os.write(fd, view):]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        _discard(tmp)
        raise


_NO_FOLLOW = (os.O_RDONLY | getattr(os, 'O_CLOEXEC', 0)
              | getattr(os, 'O_NOFOLLOW', 0) | getattr(os, 'O_NONBLOCK', 0))
_FOLDER_FLAGS = _NO_FOLLOW | getattr(os, 'O_DIRECTORY', 0)
_KINDS = ((stat.S_ISFIFO, 'a FIFO'),
          (stat.S_ISCHR, 'a device'), (stat.S_ISBLK, 'a device'),
          (stat.S_ISSOCK, 'a socket'), (stat.S_ISLNK, 'a symbolic link'))


def _kind_of(mode: int) -> str:
    return next((kind for test, kind in _KINDS if test(mode)),
                'not a regular file')


def _refuse(e: OSError, path: str | os.PathLike[str], what: str,
            dir_fd: Optional[int] = None) -> NoReturn:
    """Raise :class:`ForeignFileError` for an ``open`` under ``O_NOFOLLOW``
    that met a symbolic link (``ELOOP``, or ``ENOTDIR`` with
    ``O_DIRECTORY``); else re-raise ``e``."""
    link = e.errno == errno.ELOOP
    if e.errno == errno.ENOTDIR:
        try:
            link = stat.S_ISLNK(os.lstat(path, dir_fd=dir_fd).st_mode)
        except OSError:
            pass
    if link:
        raise ForeignFileError(
            f'a symbolic link where {what} should be; hutch does not '
            'follow links inside a store', path=path) from None
    raise e


def open_folder(path: str | os.PathLike[str]) -> int:
    """A descriptor of the folder at ``path``, which must not be a symbolic
    link itself (its parents may be), for reading files in it with
    :func:`read_file`'s ``dir_fd``.

    :raises ForeignFileError: when ``path`` is a symbolic link
    :raises FileNotFoundError: and the other errors of :func:`os.open`
    """
    try:
        return os.open(path, _FOLDER_FLAGS)
    except OSError as e:
        _refuse(e, path, 'a folder')


def read_file(path: str | os.PathLike[str], limit: Optional[int] = None,
              dir_fd: Optional[int] = None) -> bytes:
    """The content of the regular file at ``path``, read the fastest way.

    One ``open``, one ``fstat`` and one ``read`` of the whole file -- about
    twice as fast as the built-in ``open().read()`` for the small files
    stashes hold, and no copy for the large ones.
    Only a regular file is read, and only up to the size it had when it
    was opened: a symbolic link (even to a file), a FIFO or a device raises
    :class:`ForeignFileError` at once (a folder, ``IsADirectoryError``), so
    a file planted in a store never makes a reader follow it out of the
    folder, wait for ever, or read without end.

    :param limit: read at most this many bytes (the start of the file)
    :param dir_fd: read ``path`` relative to this folder
        (see :func:`open_folder`)
    :raises ForeignFileError: for a link, FIFO, device or socket
    :raises IsADirectoryError: for a folder
    :raises FileNotFoundError: and the other errors of :func:`os.open`
    """
    try:
        fd = os.open(path, _NO_FOLLOW, dir_fd=dir_fd)
    except OSError as e:
        _refuse(e, path, 'a file', dir_fd)
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR),
                                    os.fspath(path))
        if not stat.S_ISREG(st.st_mode):
            raise ForeignFileError(
                f'{_kind_of(st.st_mode)} where a file should be; hutch '
                'reads only regular files', path=path)
        size = st.st_size if limit is None else min(limit, st.st_size)
        data = os.read(fd, size)
        if len(data) < size:  # a short read: read on, up to the size
            parts = [data]
            left = size - len(data)
            while left > 0:
                more = os.read(fd, left)
                if not more:
                    break
                parts.append(more)
                left -= len(more)
            data = b''.join(parts)
        return data
    finally:
        os.close(fd)


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

"""Inter-process locks that avoid computing one value twice.

:class:`FileLock` is an ``flock`` on a file in a folder that only the user
owns (:func:`lock_dir`), named by the data's real path and removed when it
is let go, so no lock file ever sits beside the data.  The kernel drops an
``flock`` when its holder dies, so a killed process never leaves a lock
held.  Such a lock only avoids duplicate work: exclusion that correctness
rests on comes from the store itself (an exclusive link, a lock on a file of
the store -- see :func:`wait_for_flock` -- or SQLite's own locking).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import socket
import stat
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Optional

from ._files import _FOLDER_FLAGS
from .errors import LockTimeoutError, PersistableError
from .util import _FreshLocks, check_seconds

__all__ = ['FileLock', 'lock_dir', 'lock_holders', 'describe_holders',
           'wait_for_flock', 'open_lock_file', 'LOCK_DIR_MODE']

_LOCK_FLAGS = (os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW
               | getattr(os, 'O_CLOEXEC', 0))


LOCK_DIR_MODE = 0o700
"""The mode hutch makes its lock folder with."""


def _lock_dir_path() -> Path:
    env = os.environ.get('HUTCH_LOCK_DIR')
    if env:
        return Path(env)
    return Path(tempfile.gettempdir()) / f'hutch-locks-{os.geteuid()}'


def _open_lock_dir(folder: Path) -> int:
    """A descriptor of the lock folder, made if missing, once it is known
    to be a real folder (no symlink) that this user owns and no one else
    can write; :class:`PersistableError` naming it otherwise."""
    try:
        os.makedirs(folder, LOCK_DIR_MODE, exist_ok=True)
    except FileExistsError:
        pass  # a file or a dangling symlink: refused below
    try:
        fd = os.open(folder, _FOLDER_FLAGS)
    except OSError as e:  # ELOOP, ENOTDIR: a symlink or a file
        raise PersistableError(
            f'refusing the lock folder: not a folder of its own ({e.strerror})'
            '; remove it or set HUTCH_LOCK_DIR to a private folder',
            path=folder) from e
    st = os.fstat(fd)
    if st.st_uid != os.geteuid() or st.st_mode & 0o022:
        os.close(fd)
        raise PersistableError(
            f'refusing the lock folder: owned by uid {st.st_uid} with mode '
            f'{stat.S_IMODE(st.st_mode):o}, but it must be owned by uid '
            f'{os.geteuid()} and writable by no one else; remove it or set '
            'HUTCH_LOCK_DIR to a private folder', path=folder)
    return fd


def _open_in(folder: Path, dfd: int, name: str) -> int:
    """Open (making it) the lock file ``name`` of the lock folder open as
    ``dfd``, never through a symbolic link planted there."""
    try:
        return os.open(name, _LOCK_FLAGS, 0o600, dir_fd=dfd)
    except OSError as e:  # ELOOP: a symlink planted there
        raise PersistableError(f'cannot open the lock file: {e.strerror}',
                               path=folder / name) from e


def open_lock_file(name: str) -> int:
    """A descriptor of the lock file ``name`` in :func:`lock_dir` (made if
    missing), for locks kept for a process's life: the folder is checked
    as for every lock, and the file is opened without following links."""
    folder = _lock_dir_path()
    dfd = _open_lock_dir(folder)
    try:
        return _open_in(folder, dfd, name)
    finally:
        os.close(dfd)


def lock_dir() -> Path:
    """The folder that holds hutch's lock files (outside every data folder).

    It is ``$HUTCH_LOCK_DIR`` when set, else ``hutch-locks-<uid>`` in the
    system's temporary folder; it is made (mode 0700) when missing.  Another
    user could make that name first, so it is used only when it is a real
    folder -- not a symlink -- owned by this user and writable by no one
    else.

    :raises PersistableError: naming the folder, when it is not
    """
    folder = _lock_dir_path()
    os.close(_open_lock_dir(folder))
    return folder


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def lock_holders(fd: int) -> list[int]:
    """The ids of the processes on this host holding an ``flock`` on the
    file open at ``fd`` (from ``/proc/locks``; empty where there is none)."""
    st = os.fstat(fd)
    want = (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
    holders = []
    try:
        with open('/proc/locks', encoding='ascii') as f:
            lines = f.readlines()
    except OSError:
        return []
    for line in lines:
        fields = line.split()
        if len(fields) < 6 or fields[1] != 'FLOCK' or '->' in fields:
            continue
        try:
            major, minor, ino = fields[5].split(':')
            found = (int(major, 16), int(minor, 16), int(ino))
            pid = int(fields[4])
        except ValueError:
            continue
        if found == want and pid > 0:
            holders.append(pid)
    return holders


def describe_holders(fd: int) -> str:
    """Who holds the lock on the file at ``fd``, for an error message."""
    pids = lock_holders(fd)
    host = socket.gethostname()
    if not pids:
        return ('held by a process this host cannot see (on another host or '
                'in another container)')
    who = ', '.join(f'{p} (this process)' if p == os.getpid() else str(p)
                    for p in sorted(set(pids)))
    return f'held by process {who} on {host}'


def wait_for_flock(fd: int, shared: bool, timeout: Optional[float],
                   path: str | os.PathLike[str]) -> None:
    """``flock`` the file at ``fd``, polling, for at most ``timeout``
    seconds (``None``: for ever).

    :raises LockTimeoutError: naming ``path`` and who holds the lock
    """
    mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = 0.001
    while True:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EACCES):
                raise PersistableError(f'cannot lock: {e}', path=path) from e
        if deadline is not None and time.monotonic() >= deadline:
            raise LockTimeoutError(
                f'timed out after {timeout}s waiting for the lock, '
                f'{describe_holders(fd)}', path=path)
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


class FileLock(_FreshLocks):
    """An advisory, inter-process (and inter-thread) lock named by a data path.

    It serves to avoid doing the same work twice, never as the only guard
    of data: the lock is an ``flock`` on a file in :func:`lock_dir`, one
    machine's private folder, so nothing appears beside the data.  The lock
    file is named by the *real* path of the data (symlinks resolved), opened
    without following symlinks, and removed when the lock is let go.  The
    kernel drops the lock when its holder dies, so a killed process never
    leaves it held.  While held, the folder itself is share-locked, which
    temporary-file cleaners that honour locks (``systemd-tmpfiles``) take as
    "in use".  The lock is not re-entrant: a thread must not acquire it
    twice.

    :param path: the data this lock guards (need not exist)
    :param timeout: seconds to wait before :class:`LockTimeoutError` (which
        says which process holds the lock); ``None`` waits for ever
    :param shared: take a shared (reader) lock instead of an exclusive one

    >>> import tempfile, os
    >>> data = os.path.join(tempfile.mkdtemp(), 'some.dat')
    >>> with FileLock(data) as lock:
    ...     os.path.exists(data), lock.lock_path.exists()
    (False, True)
    >>> lock.lock_path.exists()
    False
    """

    _LOCKS = {'_tlock': threading.Lock}

    def __init__(self, path: str | os.PathLike[str],
                 timeout: Optional[float] = 60.0, shared: bool = False) -> None:
        check_seconds(timeout, 'timeout')
        self.path = Path(path)
        self.timeout = timeout
        self.shared = shared
        digest = hashlib.sha1(
            os.fsencode(os.path.realpath(path))).hexdigest()[:32]
        self._name = f'{digest}.lock'
        self._fds: Optional[tuple[int, int]] = None  # folder, lock file
        self._tlock = threading.Lock()

    @property
    def lock_path(self) -> Path:
        """The lock file (present only while some process holds the lock)."""
        return _lock_dir_path() / self._name

    def acquire(self) -> None:
        """Take the lock, waiting at most :attr:`timeout` seconds."""
        deadline = None if self.timeout is None else \
            time.monotonic() + self.timeout
        while True:
            folder = _lock_dir_path()
            dfd = _open_lock_dir(folder)
            fd = -1
            try:
                fd = _open_in(folder, dfd, self._name)
                fcntl.flock(dfd, fcntl.LOCK_SH)
                left = None if deadline is None else \
                    max(0.0, deadline - time.monotonic())
                wait_for_flock(fd, self.shared, left, self.path)
                if self._still_named(folder, dfd, fd):
                    with self._tlock:
                        self._fds = (dfd, fd)
                    return
            except BaseException:
                # a timeout, an OS error, or an interrupt while waiting:
                # never keep the descriptors (and so the lock) of a failed
                # acquire
                if fd >= 0:
                    os.close(fd)
                os.close(dfd)
                raise
            # the file was removed (by its last holder) or replaced while we
            # waited: locking it excludes no one, so lock what is there now
            os.close(fd)
            os.close(dfd)

    def _still_named(self, folder: Path, dfd: int, fd: int) -> bool:
        """Whether the lock file and its folder are still the ones we hold."""
        try:
            named = os.stat(self._name, dir_fd=dfd, follow_symlinks=False)
            folder_now = os.stat(folder, follow_symlinks=False)
        except FileNotFoundError:
            return False
        return _same_file(named, os.fstat(fd)) and \
            _same_file(folder_now, os.fstat(dfd))

    def release(self) -> None:
        """Let go of the lock (a no-op when not held); the last holder
        removes the lock file."""
        with self._tlock:
            fds, self._fds = self._fds, None
        if fds is None:
            return
        dfd, fd = fds
        try:
            if self.shared:
                try:  # only the last of the readers removes the file
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    return
            try:
                named = os.stat(self._name, dir_fd=dfd, follow_symlinks=False)
                if _same_file(named, os.fstat(fd)):
                    os.unlink(self._name, dir_fd=dfd)
            except FileNotFoundError:
                pass
        finally:
            os.close(fd)  # closing the descriptor drops the flock
            os.close(dfd)

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state['_fds'] = None  # a copy does not hold the lock
        return state

"""The errors hutch raises.

Every error hutch raises on purpose derives from :class:`PersistableError`, so a
caller can catch "anything hutch refused to do" with one ``except`` clause.
Errors about a particular entry also subclass the built-in a caller would
expect (``KeyError`` for a missing key), in the spirit of ``dict``.
:class:`PersistableError` itself derives from :class:`APIError`, the root
of the original API's errors, so code that catches that still catches
hutch's.

>>> issubclass(CorruptDataError, PersistableError)
True
>>> issubclass(PersistableError, APIError)
True
>>> str(CorruptDataError('could not read', key='k', path='/tmp/k.dat'))
"could not read (key 'k', path /tmp/k.dat)"
"""

from __future__ import annotations

import os
from typing import Any, Optional

__all__ = [
    'APIError',
    'PersistableError',
    'BadValueError',
    'CorruptDataError',
    'SerializeError',
    'DiskFullError',
    'ForeignFileError',
    'ReadOnlyError',
    'LockTimeoutError',
    'UnstorableResultError',
]


class APIError(Exception):
    """The root of the errors of the API hutch follows; hutch raises its
    subclass :class:`PersistableError`."""


class PersistableError(APIError):
    """The root of every error hutch raises on purpose.

    :param msg: what went wrong
    :param key: the stash key involved, when there is one
    :param path: the file involved, when there is one
    """

    def __init__(
        self,
        msg: str,
        key: Optional[Any] = None,
        path: Optional[str | os.PathLike[str]] = None,
    ) -> None:
        super().__init__(msg)
        self.msg = msg
        self.key = key
        if path is not None and not isinstance(path, (str, os.PathLike)):
            # a UPath: its URL, never the storage options it carries
            path = str(path)
        self.path = path

    def _what(self) -> str:
        """What went wrong, before the key and path are added."""
        return self.msg

    def __str__(self) -> str:
        where = []
        if self.key is not None:
            where.append(f'key {self.key!r}')
        if self.path is not None:
            where.append(f'path {os.fspath(self.path)}')
        if where:
            return f'{self._what()} ({", ".join(where)})'
        return self._what()

    def __reduce__(self) -> Any:
        # Keep key and path when the error crosses a process boundary.
        return (type(self), (self.msg, self.key, self.path))


class BadValueError(PersistableError, ValueError):
    """An argument's value is refused where the original API raised
    :class:`PersistableError`; it is a ``ValueError`` too."""


class CorruptDataError(PersistableError):
    """Stored data exists but cannot be read back (truncated, corrupt, foreign)."""


class SerializeError(PersistableError, TypeError):
    """A value could not be turned into bytes by the serializer (a lambda or
    a lock under pickle, a set under JSON); nothing was stored.  Also a
    ``TypeError``: the value is of a kind the serializer can't store."""


class DiskFullError(PersistableError, OSError):
    """There was no room to write: the disk or the user's quota is full, or
    the file would pass the process's file size limit.  Nothing was stored
    and no temporary file is left.  Also an ``OSError`` with the system's
    ``errno`` and ``strerror``.

    >>> import errno
    >>> e = DiskFullError('no room', key='k', path='/d/k.dat',
    ...                   errno=errno.ENOSPC)
    >>> isinstance(e, OSError), e.errno == errno.ENOSPC, e.filename
    (True, True, '/d/k.dat')
    >>> print(e)
    no room: No space left on device (key 'k', path /d/k.dat)
    """

    def __init__(self, msg: str, key: Optional[Any] = None,
                 path: Optional[str | os.PathLike[str]] = None,
                 errno: Optional[int] = None) -> None:
        super().__init__(msg, key, path)
        self.errno = errno
        self.strerror = None if errno is None else os.strerror(errno)
        self.filename = None if path is None else os.fspath(path)

    def _what(self) -> str:
        if self.strerror is None:
            return self.msg
        return f'{self.msg}: {self.strerror}'

    def __reduce__(self) -> Any:
        return (type(self), (self.msg, self.key, self.path, self.errno))


class ForeignFileError(CorruptDataError):
    """Where a store keeps a file sits something it won't read: a symbolic
    link (which could lead out of the store), a FIFO, a device or a
    folder."""


class ReadOnlyError(PersistableError):
    """A write was attempted on a stash that is strictly read-only."""


class LockTimeoutError(PersistableError, TimeoutError):
    """A lock guarding persisted data could not be acquired in time."""


def serialize_error(cause: BaseException, value: object, serializer: str,
                    key: Optional[Any] = None,
                    path: Optional[str | os.PathLike[str]] = None
                    ) -> SerializeError:
    """The error for a value that serializer ``serializer`` (its name)
    could not turn into bytes, worded the same by every stash; raise it
    ``from cause``.

    >>> print(serialize_error(TypeError('no'), [1], 'json', 'k', '/d/k'))
    cannot serialize a list with json: TypeError('no') (key 'k', path /d/k)
    """
    return SerializeError(
        f'cannot serialize a {type(value).__qualname__} with {serializer}: '
        f'{cause!r}', key=key, path=path)


class UnstorableResultError(SerializeError):
    """A computed result that the stash's serializer cannot store."""


def deserialize_error(cause: BaseException, key: Optional[Any] = None,
                      path: Optional[str | os.PathLike[str]] = None
                      ) -> CorruptDataError:
    """The error for stored bytes that a serializer could not turn back into
    a value, worded the same by every stash; raise it ``from cause``.

    >>> print(deserialize_error(EOFError('no data'), 'k', '/d/k.dat'))
    cannot deserialize the stored value: EOFError('no data') (key 'k', path /d/k.dat)
    """
    return CorruptDataError(
        f'cannot deserialize the stored value: {cause!r}', key=key, path=path)

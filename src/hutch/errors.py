"""The errors hutch raises.

Every error hutch raises on purpose derives from :class:`PersistableError`, so a
caller can catch "anything hutch refused to do" with one ``except`` clause.
Errors about a particular entry also subclass the built-in a caller would
expect (``KeyError`` for a missing key), in the spirit of ``dict``.

>>> issubclass(CorruptDataError, PersistableError)
True
>>> str(CorruptDataError('could not read', key='k', path='/tmp/k.dat'))
"could not read (key 'k', path /tmp/k.dat)"
"""

from __future__ import annotations

import os
from typing import Any, Optional

__all__ = [
    'PersistableError',
    'CorruptDataError',
    'ReadOnlyError',
    'LockTimeoutError',
    'UnstorableResultError',
]


class PersistableError(Exception):
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
        self.path = path

    def __str__(self) -> str:
        where = []
        if self.key is not None:
            where.append(f'key {self.key!r}')
        if self.path is not None:
            where.append(f'path {os.fspath(self.path)}')
        if where:
            return f'{self.msg} ({", ".join(where)})'
        return self.msg

    def __reduce__(self) -> Any:
        # Keep key and path when the error crosses a process boundary.
        return (type(self), (self.msg, self.key, self.path))


class CorruptDataError(PersistableError):
    """Stored data exists but cannot be read back (truncated, corrupt, foreign)."""


class ReadOnlyError(PersistableError):
    """A write was attempted on a stash that is strictly read-only."""


class LockTimeoutError(PersistableError, TimeoutError):
    """A lock guarding persisted data could not be acquired in time."""


class UnstorableResultError(PersistableError, TypeError):
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

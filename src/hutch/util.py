"""Small helpers shared by the stashes and usable on their own."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, ClassVar, NoReturn, Optional

from .errors import PersistableError

__all__ = ['chunks', 'NotPickleable', 'MISSING']


class _Missing:
    """The type of :data:`MISSING`: tells "no value" from a stored ``None``."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return '<MISSING>'

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return 'MISSING'


MISSING: Any = _Missing()
"""Sentinel for "absent", distinct from a stored ``None`` (survives pickling)."""


class chunks(Iterator[list[Any]]):  # noqa: N801 -- the original's name
    """The items of ``iterable`` in lists of at most ``size``, lazily.

    Each iteration (each ``iter()``) starts again from ``iter(iterable)``,
    so the chunks of a collection can be gone over more than once; those of
    an iterator continue where the last left off.

    :param iterable: the items to split
    :param size: the largest list to give; a positive ``int``
    :param enum: give each item as ``(index, item)``, ``index`` counting
        from 0 within its chunk (as :func:`enumerate` over the chunk)

    >>> list(chunks(range(5), 2))
    [[0, 1], [2, 3], [4]]
    >>> list(chunks('abc', 2, enum=True))
    [[(0, 'a'), (1, 'b')], [(0, 'c')]]
    """

    def __init__(self, iterable: Iterable[Any], size: int,
                 enum: bool = False) -> None:
        if isinstance(size, bool) or not isinstance(size, int):
            raise TypeError(f'chunk size must be an int, got {size!r}')
        if size < 1:
            raise ValueError(f'chunk size must be positive, got {size}')
        self.iterable = iterable
        self.size = size
        self.enum = enum
        self._items: Optional[Iterator[Any]] = None

    def __iter__(self) -> chunks:
        self._items = iter(self.iterable)
        return self

    def __next__(self) -> list[Any]:
        items = self._items
        if items is None:
            items = self._items = iter(self.iterable)
        chunk = list(itertools.islice(items, self.size))
        if not chunk:
            raise StopIteration
        if self.enum:
            return list(enumerate(chunk))
        return chunk


class NotPickleable:
    """A mixin for objects that must never be pickled (open handles, locks...).

    Pickling raises :class:`~hutch.errors.PersistableError` naming the class,
    instead of an obscure error from deep inside :mod:`pickle`.

    >>> import pickle
    >>> class Handle(NotPickleable):
    ...     pass
    >>> pickle.dumps(Handle())
    Traceback (most recent call last):
    ...
    hutch.errors.PersistableError: instances of Handle are not pickleable
    """

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise PersistableError(
            f'instances of {type(self).__name__} are not pickleable')


class _FreshLocks:
    """A mixin that leaves an object's locks out of its pickle.

    The attributes named in :attr:`_LOCKS` are dropped by ``__getstate__``
    and made afresh, by the factory they map to, in ``__setstate__``: a lock
    can't be pickled, and a copy must never share (or inherit the held state
    of) the original's.  Subclasses that pickle more or less extend both,
    calling ``super()``.

    >>> import copy, threading
    >>> class Counter(_FreshLocks):
    ...     _LOCKS = {'_lock': threading.Lock}
    ...     def __init__(self):
    ...         self.n, self._lock = 0, threading.Lock()
    >>> c = Counter(); c.n = 3
    >>> twin = copy.copy(c)       # goes through __getstate__, as pickle
    >>> twin.n, twin._lock is not c._lock
    (3, True)
    """

    #: lock attribute -> what makes a new one
    _LOCKS: ClassVar[Mapping[str, Callable[[], Any]]] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for name in self._LOCKS:
            del state[name]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        for name, make in self._LOCKS.items():
            setattr(self, name, make())

"""Small helpers shared by the stashes and usable on their own."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, ClassVar, NoReturn, Optional

from .errors import PersistableError

__all__ = ['chunks', 'NotPickleable', 'MISSING', 'check_int', 'check_seconds']


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


def check_int(value: object, name: str, low: Optional[int] = None,
              high: Optional[int] = None) -> int:
    """``value`` when it is an ``int`` (a ``bool`` is not) from ``low`` to
    ``high``: the one check of every count and size an argument gives.

    :raises TypeError: naming ``name``, for anything but an int
    :raises ValueError: naming ``name``, for an int out of range

    >>> check_int(3, 'limit', low=0)
    3
    >>> check_int(-1, 'limit', low=0)
    Traceback (most recent call last):
    ...
    ValueError: limit must be >= 0, got -1
    >>> check_int('3', 'limit')
    Traceback (most recent call last):
    ...
    TypeError: limit must be an int, got str: '3'
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f'{name} must be an int, got {type(value).__name__}: {value!r}')
    if (low is not None and value < low) or (high is not None and
                                             value > high):
        span = f'>= {low}' if high is None else f'<= {high}' \
            if low is None else f'{low} .. {high}'
        raise ValueError(f'{name} must be {span}, got {value}')
    return value


def check_seconds(value: object, name: str,
                  none: bool = True) -> Optional[float]:
    """``value`` as a duration in seconds: a number >= 0, or ``None`` (for
    ever) when ``none`` allows it.

    :raises TypeError: naming ``name``, for anything but a number (or None)
    :raises ValueError: naming ``name``, for a negative number

    >>> check_seconds(1, 'timeout'), check_seconds(None, 'timeout')
    (1.0, None)
    >>> check_seconds(-1, 'timeout')
    Traceback (most recent call last):
    ...
    ValueError: timeout must not be negative, got -1
    """
    if value is None and none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        kind = 'a number or None' if none else 'a number'
        raise TypeError(f'{name} must be {kind}, got '
                        f'{type(value).__name__}: {value!r}')
    if value < 0:
        raise ValueError(f'{name} must not be negative, got {value}')
    return float(value)


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
        check_int(size, 'chunk size', low=1)
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

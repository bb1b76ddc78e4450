"""``@memoize(stash)``: keep what a function returns for each set of arguments.

:func:`memoize` stores each result of a function (or method, or ``async
def`` function) in a stash, keyed by the function, the digest of its code
and its arguments, so that calling it again with the same arguments -- in
this process or any later one -- reads the result instead of computing it.

What it guarantees:

* **Stable keys.**  Arguments are bound to the signature first (``f(1)``,
  ``f(x=1)`` and ``f(1, y=2)`` when ``2`` is ``y``'s default are one entry)
  and keyed by value, never by :func:`hash`: the same call finds the same
  entry across processes, machines and Python runs (see
  :mod:`hutch._argkey` for what can be keyed).  An argument that can't be
  keyed raises ``TypeError`` naming it, unless ``key=`` says how.
* **Code versions.**  The key holds a digest of the function's code, which
  changes when the body changes but not when it only moves or its comments
  change; ``version=`` pins it instead.  Changes in the functions it calls
  are not seen.
* **One read a hit.**  A hit is one ``stash.get``; nothing is written.
* **One computation at a time per key.**  Threads, asyncio tasks and -- for
  a stash kept at a path -- processes asking for a result being computed
  wait for it instead of computing it again.
* **Nothing wrong is kept.**  An exception raised by the function is never
  stored (the next call computes again); a result the stash can't serialize
  raises :class:`~hutch.errors.UnstorableResultError`.  ``None`` is a result
  like any other.

>>> import hutch
>>> stash = hutch.DictionaryStash()
>>> @memoize(stash)
... def square(x):
...     print('computing', x)
...     return x * x
>>> square(4)
computing 4
16
>>> square(x=4)
16
>>> square.cache_info()
CacheInfo(hits=1, misses=1)
"""

from __future__ import annotations

import functools
import inspect
import itertools
import logging
import os
import pickle
import time
from collections.abc import Callable, Collection
from typing import Any, Generic, NamedTuple, Optional, ParamSpec, TypeVar, Union

from . import _argkey
from ._codedigest import code_digest
from ._flight import KeyLocks, StripedLocks, TaskKeyLocks, shared_path
from .errors import CorruptDataError, UnstorableResultError
from .memoentry import MARK, MemoEntry, short_repr
from .stash.base import Stash
from .util import MISSING

__all__ = ['memoize', 'Memo', 'CacheInfo']

logger = logging.getLogger(__name__)

_SCALARS = _argkey.SCALARS
_SHORT_TEXT = _argkey.SHORT_TEXT

P = ParamSpec('P')
R = TypeVar('R')

#: what a serializer (or a stash refusing a value) raises for a value it
#: can't store
_SERIALIZE_ERRORS = (pickle.PicklingError, TypeError, AttributeError,
                     ValueError, RecursionError)

_UNSTORABLE = ('raise', 'warn')


class CacheInfo(NamedTuple):
    """Hits and misses of a memoized function in this process, as
    :func:`functools.lru_cache` counts them."""

    hits: int
    misses: int


def _counted(counter: itertools.count[int]) -> int:
    """How many times ``next`` was called on ``counter`` (made at 0)."""
    return int(repr(counter)[6:-1])  # 'count(n)'


def _check_seconds(name: str, value: Optional[float]) -> Optional[float]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f'{name} must be a number of seconds or None, '
                        f'got {value!r}')
    if value < 0:
        raise ValueError(f'{name} must not be negative, got {value}')
    return float(value)


class _Binder:
    """Binds a call's arguments to the signature: the values to key, in the
    signature's order, defaults filled in, ignored names left out."""

    def __init__(self, fn: Callable[..., Any], ignore: Collection[str]) -> None:
        self.signature = inspect.signature(fn)
        params = list(self.signature.parameters.values())
        self.names = [p.name for p in params]
        unknown = sorted(set(ignore) - set(self.names))
        if unknown:
            raise ValueError(f'ignore names arguments {fn.__qualname__} does '
                             f'not have: {", ".join(unknown)}')
        self.simple = all(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                          for p in params)
        self.defaults = tuple(p.default for p in params)
        self.complete = not any(d is inspect.Parameter.empty
                                for d in self.defaults)
        kept = [i for i, n in enumerate(self.names) if n not in ignore]
        self.kept: Optional[list[int]] = \
            None if len(kept) == len(params) else kept
        self.kept_names = [self.names[i] for i in kept]

    def values(self, args: tuple[Any, ...],
               kwargs: dict[str, Any]) -> tuple[Any, ...]:
        n = len(self.names)
        if not kwargs and self.simple and len(args) <= n and (
                len(args) == n or self.complete):
            values = args + self.defaults[len(args):]
        else:  # keywords, *args, **kwargs -- or a wrong call (TypeError)
            bound = self.signature.bind(*args, **kwargs)
            bound.apply_defaults()
            values = tuple(bound.arguments.values())
        if self.kept is None:
            return values
        return tuple([values[i] for i in self.kept])


class Memo:
    """The state behind one memoized function: its keys, counters and locks.

    Made by :func:`memoize`; reached as the ``memo`` attribute of the
    function it returns.  The parameters are :func:`memoize`'s.
    """

    def __init__(self, fn: Callable[..., Any], stash: Stash, *,
                 ignore: Collection[str] = (),
                 key: Optional[Callable[..., Any]] = None,
                 version: Optional[Union[str, int]] = None,
                 expire: Optional[float] = None,
                 validate: Optional[Callable[[MemoEntry], bool]] = None,
                 read_only: bool = False,
                 unstorable: str = 'raise',
                 lock_timeout: Optional[float] = None) -> None:
        if isinstance(ignore, str):
            ignore = (ignore,)
        if key is not None and not callable(key):
            raise TypeError(f'key must be callable, got {key!r}')
        if validate is not None and not callable(validate):
            raise TypeError(f'validate must be callable, got {validate!r}')
        if version is not None and (isinstance(version, bool) or
                                    not isinstance(version, (str, int))):
            raise TypeError(f'version must be a str or int, got {version!r}')
        if unstorable not in _UNSTORABLE:
            raise ValueError(f'unstorable must be one of {_UNSTORABLE}, '
                             f'got {unstorable!r}')
        self.fn = fn
        self.stash = stash
        self.name = f'{fn.__module__}.{fn.__qualname__}'
        self.binder = _Binder(fn, ignore)
        # calls with exactly this many positional arguments key them as
        # given (-1: never, when the signature needs binding or ignores)
        binder = self.binder
        self._arity = len(binder.names) if binder.simple and \
            binder.kept is None and key is None else -1
        self.key_function = key
        self.version = None if version is None else str(version)
        self.expire = _check_seconds('expire', expire)
        self.validate = validate
        self.read_only = bool(read_only)
        self.unstorable = unstorable
        self.lock_timeout = _check_seconds('lock_timeout', lock_timeout)
        # itertools.count: next() is atomic, so threads lose no count
        self._hits = itertools.count()
        self._misses = itertools.count()
        self._get = stash.get
        self._prefix: Optional[str] = None
        self._code: Optional[str] = None
        self._tasks = TaskKeyLocks()
        self._threads = KeyLocks()
        shared = shared_path(stash)
        #: for a stash that processes may share: threads and processes
        self._processes: Optional[StripedLocks] = None if shared is None \
            else StripedLocks(os.path.join(shared, 'memo', self.name),
                              self.lock_timeout)

    # -- keys -----------------------------------------------------------

    @property
    def code(self) -> str:
        """The code version in every key: ``version=``, or the digest of
        the function's code (read on first use)."""
        if self._code is None:
            self._code = self.version if self.version is not None \
                else code_digest(self.fn)
        return self._code

    @property
    def prefix(self) -> str:
        """What every key of this function starts with (any version)."""
        return f'memo:{self.name}:'

    def key(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        """The stash key of the call ``fn(*args, **kwargs)``.

        :raises TypeError: naming the argument that can't be keyed
        """
        prefix = self._prefix
        if prefix is None:
            prefix = self._prefix = f'{self.prefix}{self.code}:'
        if not kwargs and len(args) == self._arity:
            # the common call, plain values by position: the key is their
            # repr -- what _argkey.compact gives them, without its detours
            for item in args:
                if type(item) not in _SCALARS:
                    break
            else:
                # a lone argument's tuple repr, without the recursion guard
                # a tuple repr pays for
                text = f'({args[0]!r},)' if len(args) == 1 else repr(args)
                if len(text) <= _SHORT_TEXT:
                    return prefix + text
            values = args
        elif self.key_function is not None:
            keyed = self.key_function(*args, **kwargs)
            try:
                return prefix + _argkey.compact(keyed)
            except _argkey.Unkeyable as e:
                raise TypeError(
                    f'cannot key the value the key function of {self.name} '
                    f'gave: a {e} has no stable key') from None
        else:
            values = self.binder.values(args, kwargs)
        try:
            return prefix + _argkey.compact(values)
        except _argkey.Unkeyable:
            raise self._unkeyable(values) from None

    def _unkeyable(self, values: tuple[Any, ...]) -> TypeError:
        for name, value in zip(self.binder.kept_names, values, strict=True):
            try:
                _argkey.encode(value)
            except _argkey.Unkeyable as e:
                return TypeError(
                    f'cannot key argument {name!r} of {self.name}: a {e} has '
                    f'no stable key; leave it out with ignore=, or pass '
                    f'key= to say what identifies a call')
        raise AssertionError('an argument failed to key only once')

    # -- entries --------------------------------------------------------

    def fresh(self, key: str, stored: Any) -> Any:
        """The result in ``stored``, or :data:`MISSING` when it is absent,
        expired or refused by ``validate``."""
        if stored is MISSING:
            return MISSING
        if type(stored) not in (tuple, list) or len(stored) != 7 \
                or stored[0] != MARK:
            raise CorruptDataError(
                f'the stash holds something other than a memoized result '
                f'of {self.name}', key=key)
        if self.expire is not None and time.time() - stored[3] > self.expire:
            return MISSING
        if self.validate is not None and \
                not self.validate(MemoEntry(*stored[1:])):
            return MISSING
        return stored[6]

    def entry(self, key: str) -> Optional[MemoEntry]:
        """The stored entry of ``key`` (fresh or not), or ``None``."""
        stored = self._get(key, MISSING)
        if stored is MISSING:
            return None
        self.fresh(key, stored)  # refuses foreign data
        return MemoEntry.from_stored(stored)

    def _store(self, key: str, value: Any, args: tuple[Any, ...],
               kwargs: dict[str, Any], duration: float) -> None:
        entry = (MARK, self.name, short_repr(args, kwargs), time.time(),
                 duration, self.code, value)
        try:
            self.stash.dump(key, entry)
        except _SERIALIZE_ERRORS as e:
            # what a serializer raises, bare or wrapped by the stash in an
            # error that also is a TypeError or ValueError; other stash
            # errors (a full disk, a lock timeout) pass as they are
            error = UnstorableResultError(
                f'cannot store the result of {self.name}, a '
                f'{type(value).__name__}: {e!r}', key=key)
            if self.unstorable == 'raise':
                raise error from e
            logger.warning('%s; returned it without storing', error)

    def _count(self, hit: bool) -> None:
        next(self._hits if hit else self._misses)

    # -- calls ----------------------------------------------------------

    def call(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """``fn(*args, **kwargs)``, read from the stash when it is there."""
        key = self.key(args, kwargs)
        return self.resolve(key, self._get(key, MISSING), args, kwargs)

    def resolve(self, key: str, stored: Any, args: tuple[Any, ...],
                kwargs: dict[str, Any]) -> Any:
        """The result of the call, given what reading its ``key`` found:
        the stored result when it is fresh, else computed (and stored)."""
        if stored is not MISSING:
            value = self.fresh(key, stored)
            if value is not MISSING:
                next(self._hits)
                return value
        if self.read_only:
            next(self._misses)
            return self.fn(*args, **kwargs)
        locks = self._processes
        if locks is not None:
            waited, held = locks.take(key)
            try:
                return self._compute(key, args, kwargs, waited)
            finally:
                locks.give(held)
        with self._threads.hold(key) as waited:
            return self._compute(key, args, kwargs, waited)

    def _compute(self, key: str, args: tuple[Any, ...],
                 kwargs: dict[str, Any], waited: bool) -> Any:
        # Whoever held the lock before us may have stored the result.  When
        # nobody did, the read before the lock stands: only a computation
        # that ended in the instant between that read and the lock can be
        # repeated (one after the other, never side by side).
        if waited:
            value = self.fresh(key, self._get(key, MISSING))
            if value is not MISSING:
                next(self._hits)
                return value
        next(self._misses)
        start = time.perf_counter()
        value = self.fn(*args, **kwargs)
        self._store(key, value, args, kwargs, time.perf_counter() - start)
        return value

    async def acall(self, args: tuple[Any, ...],
                    kwargs: dict[str, Any]) -> Any:
        """``await fn(*args, **kwargs)``, read from the stash when it is there."""
        key = self.key(args, kwargs)
        value = self.fresh(key, self._get(key, MISSING))
        if value is not MISSING:
            self._count(True)
            return value
        if self.read_only:
            self._count(False)
            return await self.fn(*args, **kwargs)
        async with self._tasks.hold(key):
            if self._processes is None:
                return await self._acompute(key, args, kwargs)
            async with self._processes.hold_in_loop(key):
                return await self._acompute(key, args, kwargs)

    async def _acompute(self, key: str, args: tuple[Any, ...],
                        kwargs: dict[str, Any]) -> Any:
        value = self.fresh(key, self._get(key, MISSING))
        if value is not MISSING:
            self._count(True)
            return value
        self._count(False)
        start = time.perf_counter()
        value = await self.fn(*args, **kwargs)
        self._store(key, value, args, kwargs, time.perf_counter() - start)
        return value

    # -- inspection -----------------------------------------------------

    def cache_info(self) -> CacheInfo:
        """Hits and misses counted by this process."""
        return CacheInfo(_counted(self._hits), _counted(self._misses))

    def cache_clear(self) -> None:
        """Delete this function's entries (of every code version) from the
        stash, and reset the counters; other functions' entries stay."""
        prefix = self.prefix
        for key in [k for k in self.stash.keys() if k.startswith(prefix)]:
            self.stash.delete(key)
        self._hits, self._misses = itertools.count(), itertools.count()


class Memoized(Generic[P, R]):
    """The type of what :func:`memoize` returns: the function, plus
    ``cache_info()``, ``cache_clear()``, ``is_cached(...)``,
    ``cache_entry(...)``, ``cache_key(...)`` and ``memo``."""

    memo: Memo

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        raise NotImplementedError

    def cache_info(self) -> CacheInfo:
        raise NotImplementedError

    def cache_clear(self) -> None:
        raise NotImplementedError

    def is_cached(self, *args: P.args, **kwargs: P.kwargs) -> bool:
        raise NotImplementedError

    def cache_entry(self, *args: P.args,
                    **kwargs: P.kwargs) -> Optional[MemoEntry]:
        raise NotImplementedError

    def cache_key(self, *args: P.args, **kwargs: P.kwargs) -> str:
        raise NotImplementedError


def memoize(stash: Union[Stash, str, os.PathLike[str]], *,
            ignore: Collection[str] = (),
            key: Optional[Callable[..., Any]] = None,
            version: Optional[Union[str, int]] = None,
            expire: Optional[float] = None,
            validate: Optional[Callable[[MemoEntry], bool]] = None,
            read_only: bool = False,
            unstorable: str = 'raise',
            lock_timeout: Optional[float] = None,
            ) -> Callable[[Callable[P, R]], Memoized[P, R]]:
    """Keep each result of the decorated function in ``stash``.

    :param stash: where results go: any stash (one may hold many functions),
        or a path, which stands for a :class:`~hutch.SqliteStash` there
    :param ignore: names of arguments left out of the key (a logger, a
        verbosity flag); for a method, ``'self'`` when the result does not
        depend on the instance
    :param key: a function given the call's arguments that returns what
        identifies the call (keyed like an argument); replaces the
        arguments in the key
    :param version: the code version to key by, instead of the digest of
        the function's code; change it to drop every stored result
    :param expire: seconds after which a stored result is computed again
    :param validate: given the stored :class:`~hutch.MemoEntry`, says
        whether it may be used; a refused entry is computed again
    :param read_only: use stored results, but compute misses without
        storing them
    :param unstorable: what to do with a result the stash can't serialize:
        ``'raise'`` :class:`~hutch.errors.UnstorableResultError`, or
        ``'warn'`` (log a warning and return it unstored)
    :param lock_timeout: seconds to wait for another process computing the
        same call before :class:`~hutch.LockTimeoutError`; ``None`` waits
        as long as that process lives
    """
    if isinstance(stash, (str, os.PathLike)):
        from .stash.sqlite import SqliteStash
        stash = SqliteStash(stash)
    elif not isinstance(stash, Stash):
        raise TypeError(f'memoize needs a stash or a path, got {stash!r}')
    store = stash

    def decorate(fn: Callable[P, R]) -> Memoized[P, R]:
        if not callable(fn):
            raise TypeError(f'memoize decorates a function, got {fn!r}')
        memo = Memo(fn, store, ignore=ignore, key=key, version=version,
                    expire=expire, validate=validate, read_only=read_only,
                    unstorable=unstorable, lock_timeout=lock_timeout)
        wrapper: Any
        if inspect.iscoroutinefunction(fn):
            acall = memo.acall

            @functools.wraps(fn)
            async def wrapper(*args: Any, **kwargs: Any) -> Any:
                return await acall(args, kwargs)
        elif expire is None and validate is None:
            # a stored entry is a hit: take it here, one read, no detours
            key_of, get, resolve = memo.key, memo._get, memo.resolve

            @functools.wraps(fn)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                k = key_of(args, kwargs)
                stored = get(k, MISSING)
                if type(stored) is tuple and len(stored) == 7 \
                        and stored[0] == MARK:
                    next(memo._hits)
                    return stored[6]
                return resolve(k, stored, args, kwargs)
        else:
            call = memo.call

            @functools.wraps(fn)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                return call(args, kwargs)

        def is_cached(*args: Any, **kwargs: Any) -> bool:
            k = memo.key(args, kwargs)
            return memo.fresh(k, memo._get(k, MISSING)) is not MISSING

        def cache_entry(*args: Any, **kwargs: Any) -> Optional[MemoEntry]:
            return memo.entry(memo.key(args, kwargs))

        def cache_key(*args: Any, **kwargs: Any) -> str:
            return memo.key(args, kwargs)

        wrapper.memo = memo
        wrapper.cache_info = memo.cache_info
        wrapper.cache_clear = memo.cache_clear
        wrapper.is_cached = is_cached
        wrapper.cache_entry = cache_entry
        wrapper.cache_key = cache_key
        result: Memoized[P, R] = wrapper
        return result
    return decorate

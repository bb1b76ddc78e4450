"""Stashes that wrap another stash (the *delegate*) and change one thing."""

from __future__ import annotations

import itertools
import logging
import sys
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Optional, Union

from ..errors import PersistableError
from ..util import MISSING, _FreshLocks, check_int
from .base import (
    CloseableStash,
    PrimeableStash,
    ReadOnlyStash,
    Stash,
    check_stash,
    init_fields,
)

__all__ = ['DelegateDefaults', 'DelegateStash', 'ReadOnlyDelegateStash',
           'KeyLimitStash', 'KeySubsetStash', 'PreemptiveStash',
           'PrimablePreemptiveStash', 'ProtectiveStash']

if TYPE_CHECKING:
    from .check import CheckReport

logger = logging.getLogger(__name__)


class DelegateDefaults:
    """Process-wide switches for :class:`DelegateStash`, read when a
    delegate stash is made.

    Every delegate stash checks, when it is made, that its delegate can
    serve as a stash (``TypeError`` otherwise; see
    :func:`~hutch.stash.base.check_stash`).  Set :attr:`CLASS_CHECK` to
    ``True`` to also require a subclass of this :class:`Stash`; set
    :attr:`DELEGATE_ATTR` to ``True`` to make every delegate stash forward
    unknown attributes.
    """

    #: also require the delegate to be a :class:`~hutch.stash.base.Stash`
    #: (a stash of a class from a reloaded module is not)
    CLASS_CHECK: bool = False

    #: turn :attr:`DelegateStash.delegate_attr` on for every new delegate
    #: stash
    DELEGATE_ATTR: bool = False


@init_fields
class DelegateStash(CloseableStash):
    """Forwards every call to :attr:`delegate`: the base of stacked stashes.

    Subclasses override what they change.  :meth:`prime` and :meth:`close`
    reach the delegate too.  With :attr:`delegate_attr` set (on the
    instance, as a class attribute of a subclass, or for every new stash
    with :attr:`DelegateDefaults.DELEGATE_ATTR`), attributes this stash
    lacks are looked up on the delegate.

    A delegate stash is a :class:`~hutch.stash.base.PrimeableStash`: a
    subclass that overrides :meth:`prime` has it called once before each
    read this class implements (``load``, ``get``, ``exists``, ``keys``,
    ``len``, and so ``[]``, ``in`` and iteration).  A subclass may also
    name :class:`~hutch.stash.base.PrimeableStash` among its bases, before
    or after this class, as code written for the original API does.

    :param delegate: the stash to forward to; must not be ``None``

    >>> from hutch import DictionaryStash
    >>> inner = DictionaryStash()
    >>> outer = DelegateStash(inner)
    >>> outer.dump('a', 1)
    >>> inner.load('a')
    1
    >>> inner.label = 'inner'
    >>> outer.delegate_attr = True
    >>> outer.label
    'inner'
    """

    #: forward unknown attributes to the delegate (opt-in)
    delegate_attr: bool = False

    #: whether this class's reads call :meth:`prime` (worked out per class)
    _prime_on_read: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        mro = cls.__mro__
        # PrimeableStash named before this class primes the reads itself
        primed_ahead = PrimeableStash in mro and \
            mro.index(PrimeableStash) < mro.index(DelegateStash)
        cls._prime_on_read = cls.prime is not DelegateStash.prime \
            and not primed_ahead

    def __init__(self, delegate: Stash) -> None:
        if delegate is None:
            raise PersistableError(
                f'{type(self).__name__}: delegate must be a Stash, got None')
        check_stash(delegate, 'delegate')
        if DelegateDefaults.CLASS_CHECK and not isinstance(delegate, Stash):
            raise PersistableError(
                f'{type(self).__name__}: delegate must be a Stash, '
                f'got {type(delegate).__name__}')
        self.delegate = delegate
        if DelegateDefaults.DELEGATE_ATTR:
            self.delegate_attr = True

    def __getattr__(self, attr: str) -> Any:
        # only called when normal lookup fails; guard the unpickling window
        # where __dict__ is still empty
        d = self.__dict__
        if not attr.startswith('__') and 'delegate' in d and \
                d.get('delegate_attr', type(self).delegate_attr):
            return getattr(d['delegate'], attr)
        raise AttributeError(
            f"'{type(self).__name__}' object has no attribute '{attr}'")

    @property
    def writable(self) -> bool:  # type: ignore[override]
        return self.delegate.writable

    @property
    def shareable(self) -> bool:  # type: ignore[override]
        return self.delegate.shareable

    @property
    def multihost(self) -> bool:  # type: ignore[override]
        return self.delegate.multihost

    def load(self, name: str) -> Any:
        if self._prime_on_read:
            self.prime()
        return self.delegate.load(name)

    def lookup(self, name: str) -> Any:
        if self._prime_on_read:
            self.prime()
        return self.delegate.lookup(name)

    def get(self, name: str, default: Any = None) -> Any:
        if self._prime_on_read:
            self.prime()
        return self.delegate.get(name, default)

    def exists(self, name: str) -> bool:
        if self._prime_on_read:
            self.prime()
        return self.delegate.exists(name)

    def dump(self, name: str, inst: Any) -> None:
        self.delegate.dump(name, inst)

    def delete(self, name: Optional[str] = None) -> None:
        self.delegate.delete(name)

    def clear(self) -> None:
        self.delegate.clear()

    def keys(self) -> Iterable[str]:
        if self._prime_on_read:
            self.prime()
        return self.delegate.keys()

    def __len__(self) -> int:
        if self._prime_on_read:
            self.prime()
        return len(self.delegate)

    def prime(self) -> None:
        """Prime the delegate."""
        self.delegate.prime()

    def close(self) -> None:
        """Close the delegate."""
        self.delegate.close()

    def check(self, fix: bool = False, values: bool = False) -> CheckReport:
        """The delegate's check: a wrapper keeps nothing of its own."""
        return self.delegate.check(fix, values)

    def __repr__(self) -> str:
        return f'{type(self).__name__}({self.delegate!r})'


# a delegate stash is primeable without PrimeableStash among its bases, so
# that subclasses may name PrimeableStash before it (as the original allows)
PrimeableStash.register(DelegateStash)


class ReadOnlyDelegateStash(ReadOnlyStash, DelegateStash):
    """Reads through to the delegate; writes are ignored (or raise if strict).

    >>> from hutch import DictionaryStash
    >>> inner = DictionaryStash({'a': 1})
    >>> ro = ReadOnlyDelegateStash(inner)
    >>> ro.dump('b', 2); ro.clear()
    >>> dict(inner.items())
    {'a': 1}
    """


@init_fields
class KeyLimitStash(DelegateStash):
    """Shows at most :attr:`limit` keys of the delegate (handy when debugging).

    :meth:`keys`, ``len``, iteration and :meth:`exists` see only the first
    ``limit`` keys; :meth:`load` still forwards any key.

    >>> from hutch import DictionaryStash
    >>> s = KeyLimitStash(DictionaryStash({k: k for k in 'abcd'}), limit=2)
    >>> list(s.keys()), len(s), 'c' in s
    (['a', 'b'], 2, False)
    """

    def __init__(self, delegate: Stash, limit: int = sys.maxsize) -> None:
        super().__init__(delegate)
        self.limit = check_int(limit, 'limit', low=0)

    def keys(self) -> list[str]:
        return list(itertools.islice(self.delegate.keys(), self.limit))

    def exists(self, name: str) -> bool:
        return self.delegate.exists(name) and name in self.keys()

    def get(self, name: str, default: Any = None) -> Any:
        return self.delegate.load(name) if self.exists(name) else default

    def __len__(self) -> int:
        return len(self.keys())


class KeySubsetStash(ReadOnlyStash, DelegateStash):
    """A read-only view of the delegate restricted to a subset of keys.

    :param key_subset: the keys to show: a set (or other iterable) of keys,
        or a :class:`~pathlib.Path` to a file with one key per line (blank
        lines are ignored)
    :param dynamic_subset: when true the subset (file) and the delegate are
        read anew on every call; otherwise the visible keys are worked out
        once and remembered

    >>> from hutch import DictionaryStash
    >>> s = KeySubsetStash(DictionaryStash({'a': 1, 'b': 2, 'c': 3}), {'a', 'c', 'z'})
    >>> sorted(s.keys()), s.load('b'), s['c']
    (['a', 'c'], None, 3)
    """

    def __init__(self, delegate: Stash,
                 key_subset: Union[Path, Iterable[str]],
                 dynamic_subset: bool = False) -> None:
        super().__init__(delegate)
        if isinstance(key_subset, str):
            raise TypeError('key_subset must be a Path or a collection of '
                            f'keys, not the string {key_subset!r}')
        self.key_subset = key_subset
        self.dynamic_subset = dynamic_subset
        self._subset: Optional[frozenset[str]] = None
        self._keys: Optional[list[str]] = None
        self._lock = threading.Lock()

    def _read_subset(self) -> list[str]:
        if isinstance(self.key_subset, Path):
            try:
                text = self.key_subset.read_text(encoding='utf-8')
            except OSError as e:
                raise PersistableError(f'cannot read key subset: {e}',
                                       path=self.key_subset) from e
            return [ln.strip() for ln in text.splitlines() if ln.strip()]
        return list(self.key_subset)

    def _get_subset(self) -> frozenset[str]:
        if self.dynamic_subset:
            return frozenset(self._read_subset())
        if self._subset is None:
            with self._lock:
                if self._subset is None:
                    self._subset = frozenset(self._read_subset())
        return self._subset

    def _compute_keys(self) -> list[str]:
        # file (or iterable) order, duplicates dropped, only stored keys
        exists = self.delegate.exists
        return [k for k in dict.fromkeys(self._read_subset()) if exists(k)]

    def keys(self) -> list[str]:
        if self.dynamic_subset:
            return self._compute_keys()
        if self._keys is None:
            self._keys = self._compute_keys()
        return self._keys

    def exists(self, name: str) -> bool:
        return name in self._get_subset() and self.delegate.exists(name)

    def load(self, name: str) -> Any:
        if name in self._get_subset():
            return self.delegate.load(name)
        return None

    def lookup(self, name: str) -> Any:
        if name in self._get_subset():
            return self.delegate.lookup(name)
        return MISSING

    def get(self, name: str, default: Any = None) -> Any:
        if name in self._get_subset():
            return self.delegate.get(name, default)
        return default

    def __len__(self) -> int:
        return len(self.keys())


class PreemptiveStash(DelegateStash):
    """Knows whether its delegate holds any data at all (:attr:`has_data`).

    The answer asks the delegate for one key (no value is read) and is
    remembered until :meth:`_reset_has_data` or :meth:`clear`.

    >>> from hutch import DictionaryStash
    >>> s = PreemptiveStash(DictionaryStash())
    >>> s.has_data
    False
    >>> s.dump('a', 1); s.has_data   # remembered
    False
    >>> s._reset_has_data(); s.has_data
    True
    """

    def __init__(self, delegate: Stash) -> None:
        super().__init__(delegate)
        self._has_data: Optional[bool] = None

    def _calculate_has_data(self) -> bool:
        """Whether the delegate has at least one key (reads one key only)."""
        for _ in self.delegate.keys():
            return True
        return False

    @property
    def has_data(self) -> bool:
        """Whether the delegate has data, as last worked out."""
        has = self._has_data
        if has is None:
            has = self._has_data = self._calculate_has_data()
        return has

    def _set_has_data(self, has_data: bool = True) -> None:
        self._has_data = has_data

    def _reset_has_data(self) -> None:
        """Forget :attr:`has_data` so the next use asks the delegate again."""
        self._has_data = None

    def clear(self) -> None:
        super().clear()
        self._reset_has_data()


class PrimablePreemptiveStash(PreemptiveStash):
    """A :class:`PreemptiveStash` whose reads :meth:`prime` first.

    Subclasses override :meth:`prime` to fill the delegate when it has no
    data (see :class:`~hutch.OneShotFactoryStash`); as for every
    :class:`DelegateStash`, the reads then call it.
    """


class _PrimeOnceStash(_FreshLocks, PrimablePreemptiveStash):
    """A stash whose :meth:`prime` does its work (:meth:`_prime_work`) once.

    The common core of :class:`~hutch.OneShotFactoryStash` and the
    multiprocess stashes: the first read runs the work under a lock (other
    threads wait for it); later reads cost one attribute test; :meth:`clear`
    makes the next read run it again.  The lock is not pickled: an unpickled
    copy makes its own.
    """

    _LOCKS = {'_prime_lock': threading.RLock}

    def __init__(self, delegate: Stash) -> None:
        super().__init__(delegate)
        self._primed = False
        self._prime_lock = threading.RLock()

    def _prime_work(self) -> None:
        """Fill the delegate when it has no data; runs once per prime."""

    def prime(self) -> None:
        if self._primed:
            return
        with self._prime_lock:
            if self._primed:
                return
            super().prime()
            try:
                self._prime_work()
            finally:
                self._reset_has_data()
            self._primed = True

    def clear(self) -> None:
        with self._prime_lock:
            super().clear()
            self._primed = False


@init_fields
class ProtectiveStash(DelegateStash):
    """Stores the exception instead when dumping an item fails.

    Building a data set item by item, one item that can't be stored (say, it
    can't be pickled) should not stop the run: the error is kept under the
    item's key for later inspection.

    :param log_errors: log each failure (with its traceback) at error level

    >>> from hutch import DictionaryStash
    >>> class Fussy(DictionaryStash):
    ...     def dump(self, name, inst):
    ...         if not isinstance(inst, Exception) and inst < 0:
    ...             raise ValueError(f'negative: {inst}')
    ...         super().dump(name, inst)
    >>> s = ProtectiveStash(Fussy(), log_errors=False)
    >>> s.dump('a', -1)
    >>> s.load('a')
    ValueError('negative: -1')
    """

    def __init__(self, delegate: Stash, log_errors: bool = True) -> None:
        super().__init__(delegate)
        self.log_errors = log_errors

    def dump(self, name: str, inst: Any) -> None:
        try:
            self.delegate.dump(name, inst)
        except Exception as e:
            if self.log_errors:
                logger.error('could not dump %r; storing the error', name,
                             exc_info=True)
            try:
                self.delegate.dump(name, e)
            except Exception as e2:
                # the exception itself may not be storable (unpicklable args)
                self.delegate.dump(name, PersistableError(
                    f'could not dump: {type(e).__name__}: {e}', key=name))
                logger.debug('stored a stand-in for %r: %s', name, e2)

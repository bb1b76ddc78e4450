"""Stashes that create missing items: :class:`FactoryStash` and friends."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Optional, Union

from ..errors import PersistableError
from ..util import MISSING
from .base import (
    Stash,
    check_stash,
    init_fields,
)
from .delegate import PreemptiveStash, _PrimeOnceStash
from .memory import DictionaryStash

__all__ = ['FactoryStash', 'CacheFactoryStash', 'OneShotFactoryStash']


@init_fields
class FactoryStash(PreemptiveStash):
    """Creates missing items with :attr:`factory` and keeps them in the delegate.

    The first :meth:`load` of a key the delegate lacks asks
    ``factory.load(key)``, dumps the result to the delegate and returns it;
    later loads read the delegate.  A stored ``None`` counts as present.

    As in the original API, :meth:`keys` (and so ``len`` and iteration) are
    the factory's only while the delegate holds nothing: once a load has
    dumped a created item, :attr:`has_data` is worked out again and the keys
    are the delegate's.  :meth:`exists` and :meth:`get` are the delegate's:
    they tell what has been made, and never make anything.

    :param delegate: where created items are kept (often a durable stash)
    :param factory: the stash that creates items; its :meth:`keys` are the
        keys of this stash while the delegate has no data
    :param enable_preemptive: when false, :meth:`keys` always asks the
        factory, even when the delegate has data
    :param dump_factory_nones: when false, a ``None`` the factory returns is
        not dumped (and is created again on the next load)
    :param force_clear_factory: make :meth:`clear` clear a read-only factory

    >>> from hutch import DictionaryStash, ReadOnlyStash
    >>> class Squares(ReadOnlyStash):
    ...     def load(self, name):
    ...         print('computing', name)
    ...         return int(name) ** 2
    ...     def keys(self): return [str(i) for i in range(3)]
    >>> s = FactoryStash(DictionaryStash(), Squares())
    >>> s.load('2')
    computing 2
    4
    >>> s.load('2')
    4
    """

    def __init__(self, delegate: Stash, factory: Stash,
                 enable_preemptive: bool = True,
                 dump_factory_nones: bool = True,
                 force_clear_factory: bool = False) -> None:
        super().__init__(delegate)
        self.factory = check_stash(factory, 'factory')
        self.enable_preemptive = enable_preemptive
        self.dump_factory_nones = dump_factory_nones
        self.force_clear_factory = force_clear_factory

    def _calculate_has_data(self) -> bool:
        if self.enable_preemptive:
            return super()._calculate_has_data()
        return False

    def load(self, name: str) -> Any:
        item = self._read_or_make(name)
        return None if item is MISSING else item

    def lookup(self, name: str) -> Any:
        return self._read_or_make(name)

    def _read_or_make(self, name: str) -> Any:
        """The delegate's item, else the factory's (stored); one read of
        the delegate either way.  Not :meth:`lookup` itself, which a
        subclass that changes :meth:`load` or :meth:`exists` reroutes
        through them."""
        item = self.delegate.lookup(name)
        if item is MISSING:
            item = self.factory.load(name)
            if item is None and not self.dump_factory_nones:
                return MISSING
            self.delegate.dump(name, item)
            # the delegate now has data: keys come from it from here on
            self._reset_has_data()
        return item

    def get(self, name: str, default: Any = None) -> Any:
        """The item if the delegate holds it, else ``default``: unlike
        :meth:`load`, ``get`` never asks the factory to create it."""
        return self.delegate.get(name, default)

    def keys(self) -> Iterable[str]:
        if self.has_data:
            return self.delegate.keys()
        return self.factory.keys()

    def __len__(self) -> int:
        if self.has_data:
            return len(self.delegate)
        return len(self.factory)

    def clear(self) -> None:
        super().clear()
        if self.force_clear_factory or self.factory.writable:
            self.factory.clear()

    def prime(self) -> None:
        super().prime()
        self.factory.prime()

    def close(self) -> None:
        super().close()
        self.factory.close()


class CacheFactoryStash(FactoryStash):
    """A :class:`FactoryStash` whose keys and existence come from the factory.

    For a read-only factory with a known key set that only needs a cache in
    front: the delegate (an in-memory dict unless given) just keeps what was
    created.

    >>> from hutch import DictionaryStash
    >>> s = CacheFactoryStash(factory=DictionaryStash({'a': 1}))
    >>> s.load('a'), list(s.keys()), s.exists('b')
    (1, ['a'], False)
    """

    def __init__(self, delegate: Optional[Stash] = None,
                 factory: Optional[Stash] = None,
                 enable_preemptive: bool = False,
                 dump_factory_nones: bool = True,
                 force_clear_factory: bool = False) -> None:
        super().__init__(DictionaryStash() if delegate is None else delegate,
                         check_stash(factory, 'factory'), enable_preemptive,
                         dump_factory_nones, force_clear_factory)

    def keys(self) -> Iterable[str]:
        return self.factory.keys()

    def exists(self, name: str) -> bool:
        return self.factory.exists(name)

    def get(self, name: str, default: Any = None) -> Any:
        return self.load(name) if self.factory.exists(name) else default

    def __len__(self) -> int:
        return len(self.factory)


Worker = Union[Callable[[], Iterable[tuple[str, Any]]],
               Iterable[tuple[str, Any]]]


class OneShotFactoryStash(_PrimeOnceStash):
    """Fills its delegate once, from a worker, on the first read.

    The worker is an iterable of ``(key, value)`` pairs, or a callable
    returning one; it runs only if the delegate has no data yet.  As in the
    original API it may be given to the constructor, set as the attribute
    :attr:`worker` afterwards, or be a property or method of a subclass.

    :param delegate: where the worker's items go
    :param worker: the worker; ``None`` when it is set later or defined by
        a subclass

    :raises PersistableError: on the first read, when no worker was given

    >>> from hutch import DictionaryStash
    >>> def work():
    ...     print('working')
    ...     return [('a', 1), ('b', 2)]
    >>> s = OneShotFactoryStash(DictionaryStash(), work)
    >>> s.load('b')
    working
    2
    >>> sorted(s.keys())
    ['a', 'b']
    >>> later = OneShotFactoryStash(DictionaryStash())
    >>> later.worker = [('x', 1)]
    >>> later['x']
    1
    """

    #: the worker, unless given to the constructor or set later (a subclass
    #: may make it a property or a method)
    worker: Optional[Worker] = None

    def __init__(self, delegate: Stash, worker: Optional[Worker] = None
                 ) -> None:
        super().__init__(delegate)
        if worker is not None:
            _check_worker(worker)
            self.worker = worker

    def _get_worker_type(self) -> str:
        """How to use :attr:`worker`: ``'m'`` to call it, ``'a'`` to iterate
        it as it is, ``'u'`` (the default) to call it if it is callable.

        A subclass whose ``worker`` property returns a callable that is the
        work itself, not a function to call, returns ``'a'``; one whose
        property is costly to read twice returns either.
        """
        return 'u'

    def _process_work(self) -> None:
        """Run the worker and dump each pair it gives to the delegate."""
        kind = self._get_worker_type()
        if kind not in ('u', 'm', 'a'):
            raise PersistableError(
                f'unknown worker type {kind!r} from _get_worker_type of '
                f'{type(self).__name__} (expected u, m or a)')
        worker = self.worker
        if worker is None:
            raise PersistableError(
                f'{type(self).__name__} has no worker: pass one to the '
                'constructor, set the attribute worker, or define it in a '
                'subclass')
        if kind == 'u':
            _check_worker(worker)
            kind = 'm' if callable(worker) else 'a'
        pairs = worker() if kind == 'm' else worker  # type: ignore[operator]
        dump = self.delegate.dump
        for key, value in pairs:  # type: ignore[union-attr]
            dump(key, value)

    def _prime_work(self) -> None:
        if not self.has_data:
            self._process_work()


def _check_worker(worker: object) -> None:
    if not callable(worker) and not isinstance(worker, Iterable):
        raise TypeError('worker must be callable or iterable, got '
                        f'{type(worker).__name__}')

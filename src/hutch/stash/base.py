"""The stash contract: :class:`Stash` and the smallest stashes built on it.

A stash is a dict-like store keyed by strings.  Subclasses implement four
primitives -- :meth:`~Stash.load`, :meth:`~Stash.dump`, :meth:`~Stash.delete`
and :meth:`~Stash.keys` -- and get the rest of the mapping protocol here.

Two things differ from a ``dict``, as in the API hutch follows:

* ``iter(stash)`` yields ``(key, value)`` pairs, not keys;
* :meth:`~Stash.load` returns ``None`` for a missing key (a factory stash
  creates the item there), while ``stash[key]`` raises ``KeyError``.

A stored ``None`` is a real value: ``stash[key]`` returns it.
"""

from __future__ import annotations

import dataclasses
import inspect
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar, Optional, TypeVar

from ..errors import ReadOnlyError
from ..util import MISSING, check_int, chunks

if TYPE_CHECKING:
    from .check import CheckReport

__all__ = ['Stash', 'NoopStash', 'ReadOnlyStash', 'CloseableStash',
           'Primeable', 'PrimeableStash']


class Stash(ABC):
    """The abstract base of every stash.

    >>> from hutch import DictionaryStash
    >>> s = DictionaryStash()
    >>> s['a'] = 1
    >>> s.dump('b', None)
    >>> sorted(s), len(s), 'b' in s, s['b'], s.load('zz')
    ([('a', 1), ('b', None)], 2, True, None, None)
    """

    # -- what this stash can do: the one place callers ask (a wrapper
    # answers for the stash it wraps) ------------------------------------

    #: writes change it (a :class:`ReadOnlyStash` ignores or refuses them)
    writable: bool = True

    #: other processes on this machine reach its data by unpickling it (a
    #: folder or database file, not process memory); multiprocess stashes
    #: let their workers write straight into a shareable delegate
    shareable: bool = False

    #: processes on other hosts that share its storage (a network folder)
    #: may write it at the same time and lose nothing: every write is
    #: published whole and no rule rests on a lock of one machine
    multihost: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A class that changes load or exists below the class whose lookup
        # (or get) it inherits must have its reads go through its own code:
        # it gets back the lookup and get built on load and exists.
        mro = cls.__mro__

        def owner(attr: str) -> int:
            return next(i for i, c in enumerate(mro) if attr in vars(c))

        changed = min(owner('load'), owner('exists'))
        for read in ('lookup', 'get'):
            if changed < owner(read):
                setattr(cls, read, vars(Stash)[read])

    @abstractmethod
    def load(self, name: str) -> Any:
        """The item stored under ``name``, or ``None`` when there is none.

        Factory stashes create missing items here.
        """

    def lookup(self, name: str) -> Any:
        """The item :meth:`load` gives, or :data:`~hutch.MISSING` when the
        stash has none: a stored ``None`` comes back as ``None``.

        ``stash[key]``, and the misses of factory and cache stashes, are
        built on this one read.  This default calls :meth:`load`, then
        :meth:`exists` when ``load`` gave ``None``; hutch's own stashes
        answer with a single read of their store.  A subclass that
        overrides :meth:`load` or :meth:`exists` (but not this, or
        :meth:`get`) gets these defaults back, so its reads still go through
        its code.

        >>> from hutch import DictionaryStash
        >>> s = DictionaryStash({'n': None})
        >>> s.lookup('n'), s.lookup('absent')
        (None, <MISSING>)
        """
        item = self.load(name)
        if item is None and not self.exists(name):
            return MISSING
        return item

    def get(self, name: str, default: Any = None) -> Any:
        """The item under ``name`` if this stash has it, else ``default``.

        Unlike :meth:`load`, a stash may avoid creating the item here.
        """
        if self.exists(name):
            return self.load(name)
        return default

    def exists(self, name: str) -> bool:
        """Whether ``name`` is stored; never deserializes the value."""
        return name in self.keys()

    @abstractmethod
    def dump(self, name: str, inst: Any) -> None:
        """Store ``inst`` under ``name`` (``None`` is a real value)."""

    @abstractmethod
    def delete(self, name: Optional[str] = None) -> None:
        """Remove the item under ``name``; a missing key is not an error."""

    def clear(self) -> None:
        """Remove every item this stash owns."""
        for name in list(self.keys()):
            self.delete(name)

    @abstractmethod
    def keys(self) -> Iterable[str]:
        """Every key in this stash."""

    def key_groups(self, n: int) -> Iterator[list[str]]:
        """The keys in lists of at most ``n``, in :meth:`keys` order.

        >>> from hutch import DictionaryStash
        >>> s = DictionaryStash()
        >>> for k in 'abcde':
        ...     s.dump(k, k)
        >>> list(s.key_groups(2))
        [['a', 'b'], ['c', 'd'], ['e']]
        """
        check_int(n, 'group size', low=1)
        yield from chunks(self.keys(), n)

    def values(self) -> Iterable[Any]:
        """The values, in :meth:`keys` order."""
        return (self.load(k) for k in self.keys())

    def items(self) -> Iterable[tuple[str, Any]]:
        """``(key, value)`` pairs, in :meth:`keys` order."""
        return ((k, self.load(k)) for k in self.keys())

    def __getitem__(self, name: str) -> Any:
        item = self.lookup(name)
        if item is MISSING:
            raise KeyError(name)
        return item

    def __setitem__(self, name: str, value: Any) -> None:
        self.dump(name, value)

    def __delitem__(self, name: str) -> None:
        self.delete(name)

    def __contains__(self, name: object) -> bool:
        return self.exists(name)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        return iter(self.items())

    def __len__(self) -> int:
        keys = self.keys()
        if hasattr(keys, '__len__'):
            return len(keys)  # type: ignore[arg-type]
        return sum(1 for _ in keys)

    def __bool__(self) -> bool:
        # a stash object is always truthy, even when empty (it is a store,
        # not a container to test for emptiness by accident)
        return True

    def prime(self) -> None:  # noqa: B027 -- most stashes prepare nothing
        """Prepare for reads; a stash with nothing to prepare does nothing.

        Wrappers prime what they wrap, so priming the top of a stack primes
        all of it.
        """

    def check(self, fix: bool = False, values: bool = False) -> CheckReport:
        """What is wrong with this stash's store (see :mod:`hutch.stash.check`).

        :param fix: remove what is safe to remove (what holds no data)
        :param values: also read every value (a pickle runs code when read:
            only for stores you trust)
        """
        from .check import CheckReport, check_values

        report = CheckReport(type(self).__name__)
        check_values(self, report, values)
        return report

    def close(self) -> None:  # noqa: B027 -- most stashes hold nothing open
        """Release what the stash holds open; nothing, unless it holds
        something.  Wrappers close what they wrap."""

    def __post_init__(self) -> None:
        """Set up the stash a ``@dataclass`` subclass was made as.

        The ``__init__`` a dataclass generates only assigns its fields; it
        then calls ``__post_init__``, whose ``super().__post_init__()``
        ends here and runs the ``__init__`` of the nearest class that
        wrote one, with the values the fields were given, so the base
        stash is checked and set up as if called directly.
        """
        for klass in type(self).__mro__:
            init = klass.__dict__.get('__init__')
            params = klass.__dict__.get('__dataclass_params__')
            if init is None or (params is not None and params.init):
                continue
            if klass is object:
                return
            given = self.__dict__
            kwargs = {}
            for param in list(inspect.signature(init).parameters.values())[1:]:
                if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                    continue
                if param.name in given:
                    kwargs[param.name] = given[param.name]
            init(self, **kwargs)
            return


_T = TypeVar('_T', bound=type)


def init_fields(cls: _T) -> _T:
    """Declare the arguments of ``cls.__init__`` as dataclass fields.

    A ``@dataclass`` subclass then takes them first in its generated
    ``__init__``, in order, with their defaults, as the stashes of the
    original API (dataclasses there) do; ``dataclasses.fields()`` lists
    them and each default can be read from the class.  Arguments that
    start with ``_`` and ``*args``/``**kwargs`` are not fields.  The class
    keeps its own ``__init__``, ``repr`` and identity equality.
    """
    inherited = getattr(cls, '__dataclass_fields__', {})
    own: dict[str, Any] = {}
    init = vars(cls)['__init__']  # the class's own, which it must have
    for param in list(inspect.signature(init).parameters.values())[1:]:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD) or \
                param.name.startswith('_') or param.name in inherited:
            continue
        own[param.name] = Any
        if param.default is not param.empty and param.name not in cls.__dict__:
            setattr(cls, param.name, param.default)
    annotations = cls.__dict__.get('__annotations__', {})
    cls.__annotations__ = own
    try:
        dataclasses.dataclass(init=False, repr=False, eq=False,
                              match_args=False)(cls)
    finally:
        cls.__annotations__ = annotations
    return cls


#: what an object needs to be used as a stash
_PRIMITIVES = ('load', 'dump', 'delete', 'keys')


def check_stash(obj: object, what: str) -> Stash:
    """``obj`` when it can serve as a stash; else a ``TypeError`` naming
    ``what`` (the argument) and the type of what came instead.

    A :class:`Stash` serves, and so does an object with callable stash
    primitives (``load``, ``dump``, ``delete``, ``keys``) -- such as a stash
    whose class comes from a module that was reloaded, so that it is no
    longer a subclass of this :class:`Stash`.  A ``dict`` does not.

    >>> check_stash({}, 'factory')
    Traceback (most recent call last):
    ...
    TypeError: factory must be a Stash, got dict: {}
    """
    if not isinstance(obj, Stash) and not all(
            callable(getattr(obj, name, None)) for name in _PRIMITIVES):
        raise TypeError(
            f'{what} must be a Stash, got {type(obj).__name__}: {obj!r}')
    return obj  # type: ignore[return-value]


class NoopStash(Stash):
    """Stores nothing: every load misses and every write is dropped.

    >>> s = NoopStash()
    >>> s.dump('a', 1)
    >>> s.load('a'), list(s.keys())
    (None, [])
    """

    def load(self, name: str) -> Any:
        return None

    def lookup(self, name: str) -> Any:
        return MISSING

    def get(self, name: str, default: Any = None) -> Any:
        return default

    def exists(self, name: str) -> bool:
        return False

    def dump(self, name: str, inst: Any) -> None:
        pass

    def delete(self, name: Optional[str] = None) -> None:
        pass

    def keys(self) -> Iterable[str]:
        return ()


class ReadOnlyStash(Stash):
    """A stash whose write methods do nothing, or raise when :attr:`strict`.

    Subclasses implement :meth:`load` and :meth:`keys` only.

    >>> class Squares(ReadOnlyStash):
    ...     def load(self, name): return int(name) ** 2 if name in '0123' else None
    ...     def keys(self): return '0123'
    >>> s = Squares()
    >>> s.dump('2', 'ignored'); s['2']
    4
    >>> s.strict = True
    >>> s.delete('2')
    Traceback (most recent call last):
    ...
    hutch.errors.ReadOnlyError: Squares is read-only: delete refused (key '2')
    """

    writable = False

    #: raise :class:`~hutch.errors.ReadOnlyError` on writes instead of
    #: ignoring them
    strict: bool = False

    def _ro_check(self, meth: str, name: Optional[str] = None) -> None:
        if self.strict:
            raise ReadOnlyError(
                f'{type(self).__name__} is read-only: {meth} refused', key=name)

    def dump(self, name: str, inst: Any) -> None:
        self._ro_check('dump', name)

    def delete(self, name: Optional[str] = None) -> None:
        self._ro_check('delete', name)

    def clear(self) -> None:
        self._ro_check('clear')


class CloseableStash(Stash):
    """A stash holding a resource that :meth:`close` releases.

    It is a context manager: ``with`` closes it on exit, exceptions or not.
    """

    def __enter__(self) -> CloseableStash:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class _PicklesByArguments:
    """A mixin for stashes that hold what can't cross a process (database
    connections, open files, locks).

    Pickling keeps only the attributes named in :attr:`_PICKLED` -- what the
    stash was opened with, such as its path -- and unpickling calls
    :meth:`_setup` to make the rest afresh, so a copy in another process
    opens its own handles.
    """

    #: the attributes a pickle keeps
    _PICKLED: ClassVar[tuple[str, ...]] = ()

    def _setup(self) -> None:
        """Make the state that is not pickled from the attributes that are."""

    def __getstate__(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._PICKLED}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._setup()


class Primeable(ABC):  # noqa: B024 -- an ABC so classes can be registered
    """Anything that can do preparatory work (:meth:`prime`) before it is
    used: a stash before its reads, or work that must be done once, in one
    process, before others share the result."""

    def prime(self) -> None:  # noqa: B027 -- doing nothing is a fine default
        """Do the preparatory work; repeatable, and cheap once done."""


class PrimeableStash(Stash, Primeable):
    """A stash that can do work (:meth:`prime`) before it is read.

    Reads (:meth:`load`, :meth:`get`, :meth:`exists`, :meth:`keys`,
    ``len``) call :meth:`prime` first; put this class before a concrete
    stash in the bases so those reads reach it through ``super()``.
    Priming must be cheap once done: it runs before every read.
    """

    def prime(self) -> None:
        """Do whatever must happen before the first read; repeatable."""

    def load(self, name: str) -> Any:
        self.prime()
        return super().load(name)  # type: ignore[safe-super]

    def lookup(self, name: str) -> Any:
        self.prime()
        return super().lookup(name)

    def get(self, name: str, default: Any = None) -> Any:
        self.prime()
        return super().get(name, default)

    def exists(self, name: str) -> bool:
        self.prime()
        return super().exists(name)

    def keys(self) -> Iterable[str]:
        self.prime()
        return super().keys()  # type: ignore[safe-super]

    def __len__(self) -> int:
        self.prime()
        return super().__len__()

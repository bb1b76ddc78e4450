"""Method-level persistence: compute a value once, then reuse it.

A :class:`PersistedWork` holds the result of some expensive work for one
owning object.  It looks for the value, in order:

1. on the instance (the work object itself remembers it);
2. in the global cache, when ``cache_global`` is set -- shared by every
   instance of the owner's class, never across classes;
3. in a pickle file, when ``path`` is a :class:`pathlib.Path`;
4. by running the worker, then filling every level above.

:class:`persisted` is the decorator that puts this on a method (under
``@property`` if wanted).

>>> class Circle:
...     def __init__(self, r):
...         self.r = r
...     @property
...     @persisted('_area')
...     def area(self):
...         print('computing')
...         return 3 * self.r ** 2
>>> c = Circle(2)
>>> c.area
computing
12
>>> c.area
12
>>> c._area.clear()
>>> c.area
computing
12

File format.  A value is stored as a plain pickle of the value (highest
protocol), so files hutch writes and files written by ``pickle.dump`` are
interchangeable.  With ``version=v`` the pickle is preceded by one text line,
``#hutch-version <repr(v)>\\n`` (``#`` never starts a pickle); a file whose
line differs from the current version -- or that lacks it -- is stale and
is recomputed and overwritten, never returned.

Guarantees.  The worker runs before any file is opened; its value is pickled
to a temporary file beside the target and renamed into place, so neither an
exception nor a kill leaves a partial file under the real name.  Threads
asking one :class:`PersistedWork` for a value being computed wait for it
(one lock per work object; hits take no lock), and for a file, processes do
too (an ``flock`` kept outside the data folder, which the kernel drops if its
holder dies).  A file that cannot be read raises
:class:`~hutch.errors.CorruptDataError` naming it.
"""

from __future__ import annotations

import functools
import logging
import os
import pickle
import sys
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional, TextIO, TypeVar, Union

from . import _layout, _urls
from ._files import atomic_write, check_path, path_type_error, read_head
from ._locks import FileLock
from ._methods import check_method
from .dealloc import Deallocatable
from .errors import (
    CorruptDataError,
    PersistableError,
    deserialize_error,
    serialize_error,
)
from .util import MISSING, _FreshLocks, check_seconds

__all__ = ['PersistedWork', 'persisted']

logger = logging.getLogger(__name__)

F = TypeVar('F', bound=Callable[..., Any])

Version = Union[str, int]

VERSION_MAGIC = b'#hutch-version '
"""The first bytes of a file written with a ``version``."""

_MAX_HEADER = 4096
_PROTOCOL = pickle.HIGHEST_PROTOCOL

# class -> {global key -> value}; weak so a class can still be collected
_GLOBALS: weakref.WeakKeyDictionary[type, dict[str, Any]] = \
    weakref.WeakKeyDictionary()
_GLOBALS_LOCK = threading.Lock()


def _global_cache(cls: type) -> dict[str, Any]:
    cache = _GLOBALS.get(cls)
    if cache is None:
        with _GLOBALS_LOCK:
            cache = _GLOBALS.setdefault(cls, {})
    return cache


def _check_version(version: Optional[Version]) -> Optional[bytes]:
    """Validate ``version``; return the header line's tag for it."""
    if version is None:
        return None
    if isinstance(version, bool) or not isinstance(version, (str, int)):
        raise TypeError(f'version must be a str or an int, got {version!r}')
    return repr(version).encode('utf-8', 'backslashreplace')


LOCK_TIMEOUT = 3600.0
"""How long, by default, a process waits for another computing the same
file: finite, so a hung holder gives an error naming it, not a hang."""


def _check_timeout(timeout: Optional[float]) -> None:
    check_seconds(timeout, 'lock_timeout')


class PersistedWork(_FreshLocks, Deallocatable):
    """The cached result of a piece of work, for one owner.

    Calling the object gives the value, computing it on the first call (see
    the module documentation for the lookup order).  The work is
    :attr:`worker` (set by :class:`persisted`, or by hand), called with the
    call's arguments; a subclass may override :meth:`__do_work__` instead.

    :param path: a ``str`` names the value and keeps it in memory only; a
        :class:`pathlib.Path` (any non-``str`` path-like) also pickles it to
        that file, relative paths being taken from the current folder at
        each access; a ``upath.UPath`` of a URL (``s3://bucket/x.pkl``)
        to that object
    :param owner: the object the value belongs to; its class scopes the
        global cache
    :param cache_global: share the value among all instances of the owner's
        class (in this process)
    :param transient: leave the in-memory value out when pickled (see
        :class:`~hutch.container.PersistableContainer`); it is recomputed,
        or read from the file, after unpickling
    :param initial_value: when not ``None``, :meth:`set` to this value at
        once, so the worker is not run
    :param mkdir: create the file's missing parent folders; without it, a
        missing folder raises :class:`~hutch.errors.PersistableError` before
        the worker runs
    :param deallocate_recursive: passed to
        :meth:`~hutch.dealloc.Deallocatable._try_deallocate` for the value on
        :meth:`deallocate`
    :param recover_empty: treat a zero-byte file as absent (recompute it);
        otherwise such a file is :class:`~hutch.errors.CorruptDataError`
    :param version: a ``str`` or ``int`` stored with the file; a file written
        under another version (or none) is recomputed and overwritten
    :param lock_timeout: seconds to wait for another process computing the
        same file before :class:`~hutch.errors.LockTimeoutError` (which
        names that process); an hour by default; ``None`` waits as long as
        that process lives (a dead holder frees the lock)
    :param mmap: read the large buffers of the value (numpy arrays ...)
        from the file as read-only views of it, at a cost that does not
        grow with the size, instead of into memory

    >>> class Owner:
    ...     pass
    >>> work = PersistedWork('_answer', Owner())
    >>> work.worker = lambda: 42
    >>> work(), work.is_set()
    (42, True)
    """

    _LOCKS = {'_lock': threading.RLock}

    def __init__(self, path: Union[str, os.PathLike[str]], owner: object,
                 cache_global: bool = False, transient: bool = False,
                 initial_value: Any = None, mkdir: bool = False,
                 deallocate_recursive: bool = False,
                 recover_empty: bool = False,
                 version: Optional[Version] = None,
                 lock_timeout: Optional[float] = LOCK_TIMEOUT,
                 mmap: bool = False) -> None:
        super().__init__()
        if not isinstance(mmap, bool):
            raise TypeError(f'mmap must be a bool, got {mmap!r}')
        if owner is None:
            raise TypeError('PersistedWork needs an owner, got None')
        self._remote: Any = None  # the object, when path is a URL's UPath
        if isinstance(path, str):
            self.use_disk = False
            global_key = path
        elif _urls.is_remote(path):
            if mmap:
                raise ValueError(f'mmap=True maps a local file; {path} is '
                                 'not one (its value is read into memory)')
            self.use_disk = True
            global_key = str(path)
        elif isinstance(path, os.PathLike):
            self.use_disk = True
            global_key = os.path.abspath(path)
        else:
            raise path_type_error(path)
        self._version_tag = _check_version(version)
        _check_timeout(lock_timeout)
        self.path: Path = path if _urls.is_remote(path) \
            else Path(path)  # type: ignore[assignment]
        self.owner: Optional[object] = owner
        self.cache_global = cache_global
        self.transient = transient
        self.mkdir = mkdir
        self.deallocate_recursive = deallocate_recursive
        self.recover_empty = recover_empty
        self.version = version
        self.lock_timeout = lock_timeout
        self.mmap = mmap
        self.worker: Optional[Callable[..., Any]] = None
        self._owner_class: type = type(owner)
        self._global_key = global_key
        cls = self._owner_class
        self.varname = f'_{cls.__module__}.{cls.__qualname__}_{global_key}_pwvinst'
        self._value: Any = MISSING
        self._lock = threading.RLock()
        if initial_value is not None:
            self.set(initial_value)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """The value: cached, loaded or computed (with these arguments)."""
        value = self._value
        if value is MISSING:
            value = self._fetch(args, kwargs)
        return value

    def __do_work__(self, *args: Any, **kwargs: Any) -> Any:
        """Compute the value; by default calls :attr:`worker`."""
        if self.worker is None:
            raise PersistableError(f'no worker set for {self.varname}',
                                   path=self.path if self.use_disk else None)
        return self.worker(*args, **kwargs)

    def _fetch(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        with self._lock:
            value = self._value
            if value is not MISSING:  # another thread got it while we waited
                return value
            if self.cache_global:
                value = _global_cache(self._owner_class).get(
                    self._global_key, MISSING)
            if value is MISSING:
                if self.use_disk:
                    value = self._load_or_create(args, kwargs)
                else:
                    value = self._do_work(args, kwargs)
                if self.cache_global:
                    value = _global_cache(self._owner_class).setdefault(
                        self._global_key, value)
            self._value = value
            return value

    def _do_work(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not logger.isEnabledFor(logging.INFO):
            return self.__do_work__(*args, **kwargs)
        start = time.perf_counter()
        value = self.__do_work__(*args, **kwargs)
        logger.info('%s: computed in %.3fs', self.varname,
                    time.perf_counter() - start)
        return value

    def _load_or_create(self, args: tuple[Any, ...],
                        kwargs: dict[str, Any]) -> Any:
        value = self._read()
        if value is not MISSING:
            return value
        # an object store has no folders; its lock is one host's only:
        # hosts may both compute, and one whole value wins
        lock = os.path.join(os.sep, str(self.path))
        if not _urls.is_remote(self.path):
            lock, folder = os.fspath(self.path), self.path.parent
            if self.mkdir:
                folder.mkdir(parents=True, exist_ok=True)
            elif not folder.is_dir():
                raise PersistableError('folder for persisted work does not '
                                       'exist (use mkdir=True to create it)',
                                       path=folder)
        with FileLock(lock, timeout=self.lock_timeout):
            # another process may have written it while we waited
            value = self._read()
            if value is MISSING:
                value = self._do_work(args, kwargs)
                self._write(value)
        return value

    def _read(self) -> Any:
        """The value in the file, or ``MISSING`` when absent or stale."""
        try:
            if _urls.is_remote(self.path):
                head, large = self._object().read(), None
            else:
                # a file the program named: a link to it is followed
                head, large = read_head(self.path, follow=True)
        except FileNotFoundError:
            return MISSING
        try:
            start = self._check_header(head)
            if start < 0:
                return MISSING
            try:
                if large is None:
                    return _layout.loads(memoryview(head)[start:])
                large.seek(start)
                return _layout.read(large, self.mmap)
            except Exception as e:
                raise deserialize_error(e, path=self.path) from e
        finally:
            if large is not None:
                large.close()

    def _check_header(self, head: bytes) -> int:
        """Where the pickle starts in a file whose first bytes are ``head``;
        ``-1`` when the file is empty (and recomputed) or of another
        version."""
        if not head:
            if self.recover_empty:
                logger.info('%s: empty file, recomputing', self.path)
                return -1
            raise CorruptDataError(
                'empty file (recover_empty=True recomputes it)',
                path=self.path)
        tag: Optional[bytes] = None
        start = 0
        if head.startswith(VERSION_MAGIC):
            end = head.find(b'\n', len(VERSION_MAGIC),
                            len(VERSION_MAGIC) + _MAX_HEADER)
            if end < 0:
                raise CorruptDataError('truncated version header',
                                       path=self.path)
            tag = head[len(VERSION_MAGIC):end]
            start = end + 1
        if tag != self._version_tag:
            logger.info('%s: stored version %r is not %r, recomputing',
                        self.path, tag, self._version_tag)
            return -1
        return start

    def _write(self, value: Any) -> None:
        try:
            chunks = _layout.encode(value, _PROTOCOL)
        except Exception as e:
            raise serialize_error(e, value, 'pickle', path=self.path) from e
        if self._version_tag is not None:
            chunks.insert(0, VERSION_MAGIC + self._version_tag + b'\n')
        if _urls.is_remote(self.path):
            self._object().write(b''.join(chunks))
        else:
            atomic_write(self.path, chunks)

    def _object(self) -> Any:
        if self._remote is None:  # the object of a URL's UPath
            from .stash._remote import RemoteFile
            self._remote = RemoteFile(self.path)
        return self._remote

    def set(self, obj: Any) -> None:
        """Use ``obj`` as if it had been computed: on the instance, and in
        the global cache when ``cache_global`` (replacing what is there).
        The file is not written."""
        with self._lock:
            self._value = obj
            if self.cache_global:
                _global_cache(self._owner_class)[self._global_key] = obj

    def is_set(self) -> bool:
        """Whether a value is at hand without the file or the worker."""
        if self._value is not MISSING:
            return True
        if self.cache_global:
            cache = _GLOBALS.get(self._owner_class)
            return cache is not None and self._global_key in cache
        return False

    def clear_global(self) -> None:
        """Forget the value in the global cache only."""
        cache = _GLOBALS.get(self._owner_class)
        if cache is not None:
            cache.pop(self._global_key, None)

    def clear(self) -> None:
        """Forget the value everywhere: instance, global cache and file, so
        the next call computes it again."""
        with self._lock:
            self._value = MISSING
            self.clear_global()
            if _urls.is_remote(self.path):
                self._object().delete()
            elif self.use_disk:
                try:
                    self.path.unlink()
                except FileNotFoundError:
                    pass

    def deallocate(self) -> None:
        """Deallocate the value (if it can be), forget it on the instance and
        in the global cache, and drop the owner.  The file stays."""
        super().deallocate()
        with self._lock:
            value, self._value = self._value, MISSING
            if value is not MISSING:
                self._try_deallocate(value, self.deallocate_recursive)
            self.clear_global()
            self.owner = None

    def write(self, indent: int = 0, include_content: bool = False,
              writer: Optional[TextIO] = None) -> None:
        """Describe this work to ``writer`` (standard output by default):
        its name, whether it is global and transient, and the type of its
        value (and the value, with ``include_content``).  The value is
        fetched -- computed if need be -- to say so.

        >>> import io
        >>> class Owner:
        ...     pass
        >>> work = PersistedWork('_n', Owner(), initial_value=3)
        >>> out = io.StringIO(); work.write(writer=out, include_content=True)
        >>> print(out.getvalue().replace(work.varname, 'NAME'), end='')
        NAME:
         global: False
         transient: False
         type: <class 'int'>
         content: 3
        """
        out = sys.stdout if writer is None else writer
        value = self()
        inner = ' ' * (indent + 1)
        out.write(f'{" " * indent}{self}:\n')
        out.write(f'{inner}global: {self.cache_global}\n')
        out.write(f'{inner}transient: {self.transient}\n')
        out.write(f'{inner}type: {type(value)}\n')
        if include_content:
            out.write(f'{inner}content: {value}\n')

    def _deallocate_str(self) -> str:
        return f'{self.varname} => {self._owner_class.__qualname__}'

    def __getstate__(self) -> dict[str, Any]:
        """Drop the owner, worker and lock; drop the value when transient."""
        state = super().__getstate__()
        state['owner'] = None
        state['worker'] = None
        state['_remote'] = None  # reconnects where it is unpickled
        if self.transient:
            state['_value'] = MISSING
        return state

    def __str__(self) -> str:
        return self.varname

    def __repr__(self) -> str:
        where = f'file {self.path}' if self.use_disk else 'memory'
        return (f'<PersistedWork {self._global_key!r} of '
                f'{self._owner_class.__qualname__} in {where}>')


class persisted:
    """Cache what a method returns in a :class:`PersistedWork`.

    Put it right above the method, below ``@property`` if there is one.
    The instance attribute ``name`` holds the :class:`PersistedWork`: one
    made in ``__init__`` is used as it is (with its own options), otherwise
    one is made with the options given here on the first call.  So
    ``obj.<name>.clear()`` forgets the value.  The method's name, docstring,
    annotations and ``__wrapped__`` are kept.

    :param name: the instance attribute for the :class:`PersistedWork`
    :param path: when given, also pickle the value to this file (a ``str``
        is taken as a file name here, or a URL)
    :param allocation_track: when false, the work made here is not tracked
        by :class:`~hutch.dealloc.Deallocatable` allocation tracking

    The other parameters are those of :class:`PersistedWork`.  A cached
    value is returned with one dictionary lookup and one attribute read, no
    lock taken.

    One value is kept per instance, so the method must take ``self`` alone;
    a method with other parameters, or ``@persisted`` placed above
    ``@property`` (or another descriptor), raises ``TypeError`` when the
    class is defined:

    >>> class Table:
    ...     @persisted('_row')
    ...     def row(self, n):
    ...         return n  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    TypeError: @persisted('_row') keeps one value ...; got Table.row(self, n) ...
    """

    def __init__(self, name: str,
                 path: Optional[Union[str, os.PathLike[str]]] = None,
                 cache_global: bool = False, transient: bool = False,
                 allocation_track: bool = True, mkdir: bool = False,
                 deallocate_recursive: bool = False,
                 recover_empty: bool = False,
                 version: Optional[Version] = None,
                 lock_timeout: Optional[float] = LOCK_TIMEOUT,
                 mmap: bool = False) -> None:
        if not isinstance(name, str):
            raise TypeError(f'attribute name must be a str, got {name!r}')
        if not name.isidentifier():
            raise ValueError(f'not an attribute name: {name!r}')
        _check_version(version)
        _check_timeout(lock_timeout)
        self.attr_name = name
        self.path: Optional[Path] = None if path is None else \
            _urls.as_upath(path, None) if _urls.is_remote(path) \
            else check_path(path)
        self.allocation_track = allocation_track
        # the options of every PersistedWork made here, checked above
        self._work_options: dict[str, Any] = dict(
            cache_global=cache_global, transient=transient, mkdir=mkdir,
            deallocate_recursive=deallocate_recursive,
            recover_empty=recover_empty, version=version,
            lock_timeout=lock_timeout, mmap=mmap)

    def __call__(self, fn: F) -> F:
        name = self.attr_name
        missing = MISSING
        fetch = self._fetch
        wrapper: Callable[..., Any]
        # The hit path is the point of this class: keep it to one dict
        # lookup and one attribute read.
        if check_method(fn, name):
            def wrapper(inst: Any) -> Any:
                try:
                    value = inst.__dict__[name]._value
                except (KeyError, AttributeError):
                    return fetch(fn, inst, (), {})
                if value is missing:
                    return fetch(fn, inst, (), {})
                return value
        else:
            def wrapper(inst: Any, *args: Any, **kwargs: Any) -> Any:
                try:
                    value = inst.__dict__[name]._value
                except (KeyError, AttributeError):
                    return fetch(fn, inst, args, kwargs)
                if value is missing:
                    return fetch(fn, inst, args, kwargs)
                return value
        return functools.update_wrapper(wrapper, fn)  # type: ignore[return-value]

    def _fetch(self, fn: Callable[..., Any], inst: Any,
               args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        work = self._work_for(inst)
        work.worker = fn
        if work.owner is None:  # unpickled on its own, or deallocated
            work.owner = inst
            work._owner_class = type(inst)
        return work(inst, *args, **kwargs)

    def _work_for(self, inst: Any) -> PersistedWork:
        name = self.attr_name
        attrs: Optional[dict[str, Any]] = getattr(inst, '__dict__', None)
        if attrs is not None:
            work = attrs.get(name, MISSING)
        else:
            work = getattr(inst, name, MISSING)
        if work is MISSING or work is None:  # None: pickled as transient
            made = PersistedWork(name if self.path is None else self.path,
                                 inst, **self._work_options)
            if attrs is not None and work is MISSING:
                # atomic: racing first calls all end up with one work object
                work = attrs.setdefault(name, made)
            else:
                setattr(inst, name, made)
                work = made
            if work is not made or not self.allocation_track:
                made._mark_deallocated()
        if not isinstance(work, PersistedWork):
            raise PersistableError(
                f'attribute {name!r} of {type(inst).__qualname__} holds a '
                f'{type(work).__qualname__}, not a PersistedWork')
        return work

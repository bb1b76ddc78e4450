"""Explicit release of resources, with opt-in tracking of what was never freed.

Some objects hold things the garbage collector frees late or not at all:
reference cycles, GPU memory, open handles.  A :class:`Deallocatable` has a
:meth:`~Deallocatable.deallocate` method that lets go of them now, and the
class can keep a registry of every live instance so a test or a long run can
check that nothing leaked.

:class:`resource` is the per-call form: a method gets a resource made for the
call and released when it returns or raises.

Tracking is off by default and costs nothing then.  Turn it on for a block
with :class:`dealloc` (``track=True``) or by setting
:attr:`Deallocatable.ALLOCATION_TRACKING`:

>>> class Buffer(Deallocatable):
...     def __init__(self):
...         super().__init__()
...         self.data = bytearray(10)
...     def deallocate(self):
...         super().deallocate()
...         del self.data
>>> with dealloc(Buffer, track=True) as buf:
...     len(buf.data)
10
>>> Deallocatable._num_deallocations()
0
"""

from __future__ import annotations

import collections
import functools
import logging
import traceback
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, Generic, Optional, TextIO, TypeVar, Union

from .errors import PersistableError

__all__ = ['Deallocatable', 'dealloc', 'dealloc_recursive', 'resource']

logger = logging.getLogger(__name__)

D = TypeVar('D', bound='Deallocatable')


class Deallocatable:
    """A base for objects that release their resources in :meth:`deallocate`.

    Subclasses override :meth:`deallocate` (calling ``super()``) to free
    what they hold.  The switches below are class attributes: set on
    :class:`Deallocatable` they apply to every subclass, and a subclass may
    set its own.

    When :attr:`ALLOCATION_TRACKING` is on, each instance built while it is
    on is registered (with the stack that built it) until it is deallocated;
    :meth:`_num_deallocations`, :meth:`_print_undeallocated` and
    :meth:`assert_dealloc` report what is left.
    """

    PRINT_TRACE: ClassVar[bool] = False
    """When true, :meth:`deallocate` logs (at ``WARNING``) the stack that
    called it."""

    ALLOCATION_TRACKING: ClassVar[bool] = False
    """When true, new instances are registered until deallocated."""

    _ALLOCATIONS: ClassVar[dict[int, tuple[Any, str]]] = {}
    """Live tracked instances by ``id``: ``(instance, stack at creation)``."""

    _RECURSIVE: ClassVar[bool] = False
    """When true (see :class:`dealloc_recursive`), :meth:`_try_deallocate`
    descends into lists, tuples, sets and dict values."""

    def __init__(self) -> None:
        super().__init__()
        if self.ALLOCATION_TRACKING:
            stack = ''.join(traceback.format_stack()[:-1])
            Deallocatable._ALLOCATIONS[id(self)] = (self, stack)

    def deallocate(self) -> None:
        """Release this instance's resources and drop it from the registry.

        Subclasses extend this; calling it twice must be harmless.
        """
        if self.PRINT_TRACE:
            logger.warning('deallocating %s', self._deallocate_str(),
                           stack_info=True)
        self._mark_deallocated()

    def _mark_deallocated(self, obj: Optional[int] = None) -> None:
        """Drop this instance (or the registry entry with id ``obj``) from
        tracking, whether or not its resources were freed."""
        Deallocatable._ALLOCATIONS.pop(id(self) if obj is None else obj, None)

    def _deallocate_str(self) -> str:
        """How this instance is named in tracking reports."""
        return f'{type(self).__module__}.{type(self).__qualname__}'

    @staticmethod
    def _try_deallocate(obj: Any, recursive: bool = False) -> bool:
        """Deallocate ``obj`` if it can be; return whether it was.

        :param obj: anything; a :class:`Deallocatable` is deallocated
        :param recursive: also deallocate the items of lists, tuples and sets
            and the values of dicts, at any depth (also on inside a
            :class:`dealloc_recursive` block)

        >>> class R(Deallocatable):
        ...     freed = False
        ...     def deallocate(self):
        ...         super().deallocate()
        ...         self.freed = True
        >>> items = [R(), {'k': R()}]
        >>> Deallocatable._try_deallocate(items), items[0].freed
        (False, False)
        >>> Deallocatable._try_deallocate(items, recursive=True)
        True
        >>> items[0].freed, items[1]['k'].freed
        (True, True)
        """
        if isinstance(obj, Deallocatable):
            obj.deallocate()
            return True
        if not (recursive or Deallocatable._RECURSIVE):
            return False
        children: Iterable[Any]
        if isinstance(obj, (list, tuple, set, frozenset)):
            children = obj
        elif isinstance(obj, dict):
            children = obj.values()
        else:
            return False
        for child in tuple(children):
            Deallocatable._try_deallocate(child, True)
        return True

    def _deallocate_attribute(self, attrib: str) -> bool:
        """Deallocate attribute ``attrib`` (if it can be) and delete it.

        :return: whether the value was deallocated; a missing attribute or a
            value that is not deallocatable gives ``False`` (the attribute is
            still deleted)
        """
        if not hasattr(self, attrib):
            return False
        freed = self._try_deallocate(getattr(self, attrib))
        delattr(self, attrib)
        return freed

    def _deallocate_attributes(self, attribs: Iterable[str]) -> int:
        """Apply :meth:`_deallocate_attribute` to each name; return how many
        values were deallocated."""
        return sum(1 for a in attribs if self._deallocate_attribute(a))

    @classmethod
    def _num_deallocations(cls) -> int:
        """How many tracked instances are still allocated."""
        return len(Deallocatable._ALLOCATIONS)

    @classmethod
    def _print_undeallocated(cls, include_stack: bool = False,
                             only_counts: bool = False, fail: bool = False,
                             writer: Optional[TextIO] = None) -> None:
        """Report the tracked instances that are still allocated.

        :param include_stack: add the stack that built each instance
        :param only_counts: give one line per class with its count instead
        :param fail: then raise as :meth:`assert_dealloc` does
        :param writer: the stream to write to; by default each line is
            logged at ``WARNING`` (hutch itself never prints)
        """
        lines: list[str] = []
        allocs = tuple(Deallocatable._ALLOCATIONS.items())
        if allocs:
            lines.append(f'total allocations: {len(allocs)}')
        if only_counts:
            counts = collections.Counter(type(obj) for _, (obj, _) in allocs)
            for kind in sorted(counts, key=lambda k: k.__qualname__):
                lines.append(f'{kind.__module__}.{kind.__qualname__}: '
                             f'{counts[kind]}')
        else:
            for key, (obj, stack) in allocs:
                lines.append(f'{key} -> {obj._deallocate_str()}')
                if include_stack:
                    lines.append(stack.rstrip('\n'))
        for line in lines:
            if writer is None:
                logger.warning('%s', line)
            else:
                writer.write(line + '\n')
        if fail:
            cls.assert_dealloc()

    @classmethod
    def _deallocate_all(cls) -> None:
        """Deallocate every tracked instance still allocated, and forget
        them."""
        allocs = tuple(obj for obj, _ in Deallocatable._ALLOCATIONS.values())
        Deallocatable._ALLOCATIONS.clear()
        for obj in allocs:
            obj.deallocate()

    @classmethod
    def assert_dealloc(cls) -> None:
        """Raise :class:`~hutch.errors.PersistableError` if any tracked
        instance is still allocated."""
        count = len(Deallocatable._ALLOCATIONS)
        if count > 0:
            raise PersistableError(
                f'resource leak: {count} instances not deallocated')


class dealloc_recursive:
    """A ``with`` block in which :meth:`Deallocatable._try_deallocate` always
    descends into containers.

    The switch is process-wide (as in the original API), so don't rely on it
    from several threads at once.

    >>> with dealloc_recursive():
    ...     Deallocatable._RECURSIVE
    True
    >>> Deallocatable._RECURSIVE
    False
    """

    def __init__(self) -> None:
        self.org_rec_state = Deallocatable._RECURSIVE

    def __enter__(self) -> None:
        self.org_rec_state = Deallocatable._RECURSIVE
        Deallocatable._RECURSIVE = True

    def __exit__(self, *exc: Any) -> None:
        Deallocatable._RECURSIVE = self.org_rec_state


class dealloc(Generic[D]):
    """A ``with`` block that deallocates its object when the block ends.

    :param inst: the :class:`Deallocatable` to free, or a callable that makes
        it (called here, after tracking is switched on, so what it builds is
        tracked)
    :param track: switch :attr:`Deallocatable.ALLOCATION_TRACKING` on for the
        block and report what is left allocated at its end (see
        :meth:`Deallocatable._print_undeallocated`)
    :param include_stack: add creation stacks to that report

    The object is deallocated even when the block raises; the tracking switch
    is restored either way, from :attr:`org_track` (its value before).
    """

    def __init__(self, inst: Union[D, Callable[[], D]], track: bool = False,
                 include_stack: bool = False) -> None:
        self.track = track
        self.include_stack = include_stack
        self.org_track = Deallocatable.ALLOCATION_TRACKING
        if track:
            Deallocatable.ALLOCATION_TRACKING = True
        try:
            if callable(inst) and not isinstance(inst, Deallocatable):
                inst = inst()
        except BaseException:
            Deallocatable.ALLOCATION_TRACKING = self.org_track
            raise
        self.inst: D = inst

    def __enter__(self) -> D:
        return self.inst

    def __exit__(self, *exc: Any) -> None:
        try:
            self.inst.deallocate()
            if self.track:
                Deallocatable._print_undeallocated(self.include_stack)
        finally:
            Deallocatable.ALLOCATION_TRACKING = self.org_track


class resource:
    """Give a method a resource made for the call and always released.

    The decorated method receives the resource as its first argument after
    ``self``; callers don't pass it.  The release method runs whether the
    method returns or raises.

    :param create_method_name: the method of the instance that makes the
        resource (called with no arguments)
    :param destroy_method_name: the method that releases it (called with
        the resource)

    >>> import sqlite3
    >>> class Store:
    ...     def _connect(self):
    ...         return sqlite3.connect(':memory:')
    ...     def _close(self, conn):
    ...         conn.close()
    ...     @resource('_connect', '_close')
    ...     def one(self, conn):
    ...         return conn.execute('select 1').fetchone()[0]
    >>> Store().one()
    1
    """

    def __init__(self, create_method_name: str,
                 destroy_method_name: str) -> None:
        for arg in (create_method_name, destroy_method_name):
            if not isinstance(arg, str):
                raise TypeError(f'method names must be str, got {arg!r}')
        self.create_method_name = create_method_name
        self.destroy_method_name = destroy_method_name

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        create = self.create_method_name
        destroy = self.destroy_method_name

        @functools.wraps(fn)
        def wrapper(inst: Any, *args: Any, **kwargs: Any) -> Any:
            res = getattr(inst, create)()
            try:
                return fn(inst, res, *args, **kwargs)
            finally:
                getattr(inst, destroy)(res)
        return wrapper

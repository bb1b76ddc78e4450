"""PersistableContainer: objects whose persisted work survives pickling.

A class that holds :class:`~hutch.persisted.PersistedWork` attributes (made
in ``__init__`` or by ``@persisted``) extends :class:`PersistableContainer`
to be pickled safely and to free that work with one :meth:`deallocate`.

Class attributes tune what is pickled.  Each is spelled as in the original
API (``_PERSITABLE_...``) or correctly (``_PERSISTABLE_...``); both are
honoured, and their names are merged:

* ``_PERSITABLE_TRANSIENT_ATTRIBUTES`` -- attributes pickled as ``None``;
* ``_PERSITABLE_REMOVE_ATTRIBUTES`` -- attributes left out entirely;
* ``_PERSITABLE_PROPERTIES`` -- properties read before pickling, so their
  persisted values are computed and go along;
* ``_PERSITABLE_METHODS`` -- methods called before pickling, likewise.

>>> import copy
>>> from hutch.persisted import persisted
>>> class Model(PersistableContainer):
...     _PERSISTABLE_PROPERTIES = {'weights'}
...     def __init__(self, n):
...         self.n = n
...     @property
...     @persisted('_weights')
...     def weights(self):
...         return list(range(self.n))
>>> twin = copy.deepcopy(Model(3))  # goes through __getstate__, as pickle
>>> twin._weights.is_set(), twin.weights
(True, [0, 1, 2])
"""

from __future__ import annotations

import copy
import logging
import sys
from typing import Any, Optional, TextIO

from .dealloc import Deallocatable
from .persisted import PersistedWork

__all__ = ['PersistableContainer', 'PersistableContainerMetadata']

logger = logging.getLogger(__name__)


def _names(obj: object, suffix: str) -> list[str]:
    """The names in both spellings of a class attribute, in declared order."""
    names: dict[str, None] = {}
    for prefix in ('_PERSITABLE_', '_PERSISTABLE_'):
        declared = getattr(obj, prefix + suffix, ())
        if isinstance(declared, str):
            raise TypeError(f'{prefix}{suffix} of {type(obj).__qualname__} '
                            f'must be a collection of names, not a str')
        names.update(dict.fromkeys(declared))
    return list(names)


class PersistableContainer(Deallocatable):
    """A base for classes that hold persisted work and may be pickled.

    Pickling keeps each :class:`~hutch.persisted.PersistedWork` with its value
    -- unless the work is ``transient``, in which case the value is left out
    (even one that cannot be pickled) and computed again, or read from its
    file, after unpickling.  The work objects lose their link to the owner and
    worker when pickled; :meth:`__setstate__` gives them back their owner and
    the decorator their worker.  A subclass may override
    :meth:`__getstate__` / :meth:`__setstate__`, calling ``super()``.

    :meth:`deallocate` deallocates every persisted work (and through it the
    values that are :class:`~hutch.dealloc.Deallocatable`).
    """

    def __getstate__(self) -> dict[str, Any]:
        for name in _names(self, 'PROPERTIES'):
            getattr(self, name)
        for name in _names(self, 'METHODS'):
            getattr(self, name)()
        state = self.__dict__.copy()
        for name in _names(self, 'TRANSIENT_ATTRIBUTES'):
            state[name] = None
        for name in _names(self, 'REMOVE_ATTRIBUTES'):
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            if isinstance(value, PersistedWork):
                if value.owner is not None and value.owner is not self:
                    # copy.copy() hands over the live object: give this
                    # instance its own (its value and options are kept)
                    value = copy.copy(value)
                    state[name] = value
                value.owner = self
                value._owner_class = type(self)
        self.__dict__.update(state)

    def _persisted_works(self) -> dict[str, PersistedWork]:
        """The :class:`~hutch.persisted.PersistedWork` attributes by name."""
        return {k: v for k, v in self.__dict__.items()
                if isinstance(v, PersistedWork)}

    def _get_persistable_metadata(self) -> PersistableContainerMetadata:
        """What this instance holds, to inspect or clear."""
        return PersistableContainerMetadata(self)

    def _clear_persistable_state(self) -> None:
        """Clear every persisted work of this instance (memory and files)."""
        for work in self._persisted_works().values():
            work.clear()

    def deallocate(self) -> None:
        """Deallocate every persisted work and, through it, its value."""
        super().deallocate()
        for work in self._persisted_works().values():
            work.deallocate()


class PersistableContainerMetadata:
    """A view of what a :class:`PersistableContainer` holds: its persisted
    work (:attr:`persisted`), described by :meth:`write`, forgotten by
    :meth:`clear`.

    >>> import io
    >>> from hutch.persisted import persisted
    >>> class Model(PersistableContainer):
    ...     def __init__(self):
    ...         self.n = 2
    ...     @persisted('_double')
    ...     def double(self):
    ...         return self.n * 2
    >>> model = Model(); model.double()
    4
    >>> meta = model._get_persistable_metadata()
    >>> list(meta.persisted)
    ['_double']
    >>> out = io.StringIO(); meta.write(writer=out)
    >>> out.getvalue().splitlines()[:2]
    ['n:', " type: <class 'int'>"]
    """

    def __init__(self, container: PersistableContainer) -> None:
        self.container = container

    @property
    def persisted(self) -> dict[str, PersistedWork]:
        """The container's :class:`~hutch.persisted.PersistedWork`
        attributes by name."""
        return self.container._persisted_works()

    def write(self, indent: int = 0, include_content: bool = False,
              recursive: bool = False, writer: Optional[TextIO] = None
              ) -> None:
        """Describe each attribute of the container to ``writer``
        (standard output by default): persisted work as
        :meth:`~hutch.persisted.PersistedWork.write` does (which fetches
        its value), other attributes by type (and value, with
        ``include_content``); with ``recursive``, containers held as
        attributes are described too, further indented.
        """
        out = sys.stdout if writer is None else writer
        inner = ' ' * (indent + 1)
        for name, value in self.container.__dict__.items():
            if isinstance(value, PersistedWork):
                value.write(indent, include_content, out)
            else:
                out.write(f'{" " * indent}{name}:\n')
                out.write(f'{inner}type: {type(value)}\n')
                if include_content:
                    out.write(f'{inner}content: {value}\n')
            if recursive and isinstance(value, PersistableContainer):
                value._get_persistable_metadata().write(
                    indent + 2, include_content, True, out)

    def clear(self) -> None:
        """Clear every persisted work of the container (memory and files)."""
        for work in self.persisted.values():
            work.clear()

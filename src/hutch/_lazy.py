"""Lazy public names: a package's names load their modules on first use.

``import hutch`` must be cheap: most programs use a handful of stashes, and
loading every back end up front would pull in ``multiprocessing``,
``sqlite3``, ``dbm`` and ``zipfile`` for nothing.  A package lists its
public names by module once, in a mapping, and calls :func:`lazy_package`;
the first use of a name imports the module that defines it.

Type checkers don't run this: the package repeats its imports under
``if TYPE_CHECKING:``, and a test checks the two lists agree.
"""

from __future__ import annotations

import importlib
import sys
import types

TYPE_CHECKING = False
if TYPE_CHECKING:  # ``typing`` would cost more than the rest of the import
    from collections.abc import Mapping
    from typing import Any

__all__ = ['lazy_package']

_WHERE = '_lazy_where'


class _LazyPackage(types.ModuleType):
    """A package whose exported names are imported when first read."""

    def __getattr__(self, name: str) -> Any:
        # only called when ordinary lookup fails: the name is not bound yet
        module = self.__dict__.get(_WHERE, {}).get(name)
        if module is None:
            if name.startswith('__') or '__path__' not in self.__dict__:
                raise self._no_such(name)
            # ``hutch.serial`` after a bare ``import hutch``: a submodule
            return self._submodule(name)
        value = getattr(importlib.import_module(module, self.__name__), name)
        self.__dict__[name] = value
        return value

    def _submodule(self, name: str) -> types.ModuleType:
        full = f'{self.__name__}.{name}'
        try:
            return importlib.import_module(full)
        except ModuleNotFoundError as e:
            if e.name != full:
                raise  # the submodule exists and fails to import
            raise self._no_such(name) from None

    def _no_such(self, name: str) -> AttributeError:
        return AttributeError(
            f'module {self.__name__!r} has no attribute {name!r}')

    def __setattr__(self, name: str, value: Any) -> None:
        # Importing ``pkg.sub`` makes the import system set ``pkg.sub`` to the
        # module.  Where ``sub`` is also an exported name (``hutch.persisted``
        # the decorator, ``hutch.stash.shelve`` the context manager), the
        # exported object wins, as with an eager ``from .sub import sub``.
        if (isinstance(value, types.ModuleType)
                and value.__name__ == f'{self.__name__}.{name}'
                and name in self.__dict__.get(_WHERE, {})):
            return
        super().__setattr__(name, value)

    def __dir__(self) -> list[str]:
        return sorted(set(self.__dict__) | set(self.__dict__.get(_WHERE, {})))


def lazy_package(package: str, exports: Mapping[str, tuple[str, ...]]) -> None:
    """Make the names of ``exports`` load lazily in ``package``.

    :param package: the calling package's ``__name__`` (it must be in
        :data:`sys.modules`, as it is while its ``__init__`` runs)
    :param exports: module name (relative to ``package`` when it starts with
        a dot) to the public names it defines

    >>> import sys, types
    >>> sys.modules['demo_pkg'] = types.ModuleType('demo_pkg')
    >>> lazy_package('demo_pkg', {'json.decoder': ('JSONDecoder',)})
    >>> sys.modules['demo_pkg'].JSONDecoder.__name__
    'JSONDecoder'
    >>> sys.modules['demo_pkg'].nothing
    Traceback (most recent call last):
    ...
    AttributeError: module 'demo_pkg' has no attribute 'nothing'
    >>> del sys.modules['demo_pkg']
    """
    module = sys.modules[package]
    module.__dict__[_WHERE] = {name: source for source, names in exports.items()
                               for name in names}
    module.__class__ = _LazyPackage

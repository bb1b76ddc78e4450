"""A folder stash that splits a large dict attribute of each item over folders.

Items that carry a big ``dict`` (say, feature name -> matrix) often need only
a few of its entries at a time.  :class:`DirectoryCompositeStash` stores the
item without that attribute in ``path/inst`` and the attribute's entries in
one folder per *group* of keys under ``path/comp``; loading reads only the
groups that :attr:`~DirectoryCompositeStash.load_keys` needs.

The files are those of the original API: ``inst/<key>.dat`` holds the pickle
of ``(item, context)`` (``context`` the key order of an ``OrderedDict``
attribute, else ``None``) and ``comp/<a-b>/<key>.dat`` the dict of group
``{a, b}``.
"""

from __future__ import annotations

import errno
import logging
import os
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Optional, Union

from .. import _keys, _urls
from .._files import check_path
from ..errors import CorruptDataError, PersistableError
from ..util import MISSING
from .directory import DirectoryStash

__all__ = ['DirectoryCompositeStash', 'MissingDataKeysError']

logger = logging.getLogger(__name__)


class MissingDataKeysError(PersistableError):
    """An item's composite attribute lacks keys that the groups name.

    :param msg: what went wrong; or, as in the original API, the missing
        keys themselves (a set), which makes the message
    :param keys: the missing keys (also in the message)

    >>> print(MissingDataKeysError({'b'}))
    Missing data keys: {'b'}
    """

    def __init__(self, msg: Union[str, Iterable[str]],
                 key: Optional[Any] = None,
                 path: Optional[str | os.PathLike[str]] = None,
                 keys: Iterable[str] = ()) -> None:
        if not isinstance(msg, str):
            keys = frozenset(msg)
            msg = f'Missing data keys: {set(keys)}'
        super().__init__(msg, key, path)
        self.keys = frozenset(keys)

    def __reduce__(self) -> Any:
        return (type(self), (self.msg, self.key, self.path, self.keys))


def _rmdir_if_empty(path: str | os.PathLike[str]) -> None:
    try:
        os.rmdir(path)
    except OSError as e:
        if e.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
            raise


class DirectoryCompositeStash(DirectoryStash):
    """Stores a dict attribute of each item split over per-group folders.

    :param path: the top folder; it holds ``inst`` and ``comp``
    :param groups: sets of the attribute's keys; each set is stored in its
        own folder and every key must be in exactly one set
    :param attribute_name: the attribute of each item holding the dict
    :param load_keys: the keys a load puts back in the attribute (``None``
        for all); only groups holding one of them are read.  May be set
        later.
    :param kwargs: passed on to :class:`DirectoryStash` (``pattern``,
        ``serializer``, ``shard``, ``on_error``, ``durable``)

    >>> import tempfile
    >>> from types import SimpleNamespace
    >>> s = DirectoryCompositeStash(tempfile.mkdtemp(), [{'a', 'b'}, {'c'}],
    ...                             'feats', load_keys={'c'})
    >>> s.dump('item', SimpleNamespace(feats={'a': 1, 'b': 2, 'c': 3}))
    >>> s.load('item').feats
    {'c': 3}
    >>> sorted(os.listdir(s.top_path / 'comp'))
    ['a-b', 'c']
    """

    INSTANCE_DIRECTORY_NAME = 'inst'
    COMPOSITE_DIRECTORY_NAME = 'comp'

    def __init__(self, path: str | os.PathLike[str],
                 groups: Iterable[Iterable[str]], attribute_name: str,
                 load_keys: Optional[Iterable[str]] = None,
                 **kwargs: Any) -> None:
        if not isinstance(attribute_name, str) or not attribute_name:
            raise TypeError(
                f'attribute_name must be a non-empty str, got {attribute_name!r}')
        if _urls.is_remote(path):  # a UPath carrying the storage options
            self.top_path: Any = _urls.as_upath(
                path, kwargs.pop('storage_options', None))
        else:
            self.top_path = check_path(path)
        super().__init__(self.top_path / self.INSTANCE_DIRECTORY_NAME,
                         **kwargs)
        self.attribute_name = attribute_name
        self._options = kwargs
        self.groups = groups
        self.load_keys = load_keys

    @property
    def groups(self) -> tuple[frozenset[str], ...]:
        """The groups of keys, each stored in its own folder."""
        return self._groups

    @groups.setter
    def groups(self, groups: Iterable[Iterable[str]]) -> None:
        if isinstance(groups, (str, Mapping)) or \
                not isinstance(groups, Iterable):
            raise TypeError(f'groups must be a sequence of sets, got {groups!r}')
        sets: list[frozenset[str]] = []
        for group in groups:
            if isinstance(group, str) or not isinstance(group, Iterable):
                raise TypeError(f'each group must be a set of str, got {group!r}')
            members = frozenset(group)
            for k in members:
                _keys.check_key(k)
            if not members:
                raise ValueError('a group must hold at least one key')
            sets.append(members)
        if not sets:
            raise ValueError('there must be at least one group')
        seen: set[str] = set()
        twice: set[str] = set()
        for members in sets:
            twice |= seen & members
            seen |= members
        if twice:
            raise ValueError(f'keys in more than one group: {sorted(twice)}')
        comp = self.top_path / self.COMPOSITE_DIRECTORY_NAME
        stashes = {}
        for group in sets:
            folder = _keys.encode_key('-'.join(sorted(group)))
            stashes[group] = DirectoryStash(comp / folder, **self._options)
        self._groups = tuple(sets)
        self._group_stashes: dict[frozenset[str], DirectoryStash] = stashes
        self._all_keys = frozenset(seen)

    @property
    def load_keys(self) -> Optional[frozenset[str]]:
        """The attribute keys a load restores (``None`` for all)."""
        return self._load_keys

    @load_keys.setter
    def load_keys(self, keys: Optional[Iterable[str]]) -> None:
        if keys is None:
            self._load_keys = None
            return
        if isinstance(keys, str) or not isinstance(keys, Iterable):
            raise TypeError(f'load_keys must be a set of str, got {keys!r}')
        wanted = frozenset(keys)
        unknown = wanted - self._all_keys
        if unknown:
            raise ValueError(
                f'load_keys not in any group: {sorted(unknown)}')
        self._load_keys = wanted

    def group_path(self, group: Iterable[str]) -> Path:
        """The folder that holds ``group``'s part of every item."""
        return self._group_stashes[frozenset(group)].path

    def dump(self, name: str, inst: Any) -> None:
        """Store ``inst``: its attribute's groups first, then the item.

        :raises MissingDataKeysError: the attribute lacks keys of the groups
        :raises ValueError: the attribute holds keys in no group
        """
        _keys.check_key(name)
        if inst is None:
            super().dump(name, (None, None))
            return
        data = getattr(inst, self.attribute_name)
        if not isinstance(data, Mapping):
            raise TypeError(f'attribute {self.attribute_name!r} of key '
                            f'{name!r} must be a dict, got {type(data).__name__}')
        missing = self._all_keys - data.keys()
        if missing:
            raise MissingDataKeysError(
                f'attribute {self.attribute_name!r} lacks group keys '
                f'{sorted(missing)}', key=name, keys=missing)
        extra = data.keys() - self._all_keys
        if extra:
            raise ValueError(f'attribute {self.attribute_name!r} of key '
                             f'{name!r} has keys in no group: {sorted(extra)}')
        # every part is serialized before any is written, so an item that
        # can't be serialized leaves nothing behind
        parts = [(stash, *stash._encode(
                  name, {k: data[k] for k in data if k in group}))
                 for group, stash in self._group_stashes.items()]
        context = tuple(data) if isinstance(data, OrderedDict) else None
        setattr(inst, self.attribute_name, None)
        try:
            parts.append((self, *self._encode(name, (inst, context))))
        finally:
            setattr(inst, self.attribute_name, data)
        for stash, file, blob in parts:
            stash._store(name, file, blob)

    def _read(self, key: str) -> Any:
        item = super()._read(key)
        if item is MISSING:
            return MISSING
        inst, context = item
        if inst is None:
            return None
        wanted = self._all_keys if self._load_keys is None else self._load_keys
        data: dict[str, Any] = {}
        for group, stash in self._group_stashes.items():
            if group.isdisjoint(wanted):
                continue
            part = stash._read(key)
            if part is MISSING:
                raise CorruptDataError(
                    f'the item has no data for group {sorted(group)}',
                    key=key, path=stash.key_to_path(key))
            data.update((k, v) for k, v in part.items() if k in wanted)
        if context is not None:
            data = OrderedDict((k, data[k]) for k in context if k in data)
        setattr(inst, self.attribute_name, data)
        return inst

    def delete(self, name: Optional[str] = None) -> None:
        super().delete(name)
        for stash in self._group_stashes.values():
            stash.delete(name)

    def clear(self) -> None:
        """Remove every item and group file, and the folders hutch made."""
        super().clear()
        for stash in self._group_stashes.values():
            stash.clear()
        if isinstance(self.top_path, Path):  # object storage has no folders
            for stash in self._group_stashes.values():
                _rmdir_if_empty(stash.path)
            _rmdir_if_empty(self.top_path / self.COMPOSITE_DIRECTORY_NAME)
            _rmdir_if_empty(self.path)

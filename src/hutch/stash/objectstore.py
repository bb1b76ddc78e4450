"""The folder stashes on object storage: what ``DirectoryStash('s3://...')`` is.

:class:`~hutch.DirectoryStash`, :class:`~hutch.IncrementKeyDirectoryStash`
and :class:`~hutch.DirectoryCompositeStash` (and subclasses of them) given
an fsspec URL or a ``upath.UPath`` instead of a local folder become the
classes made here: the same stash, with the same file names, serializer
and guarantees, whose files are objects reached through
:class:`~hutch.stash._remote.Folder`.  What differs:

* ``path`` (and ``key_to_path``) is a ``UPath``; errors name the URL of the
  object, never the storage options;
* a value is published whole by one PUT (on file systems without an atomic
  PUT: a temporary object, then a move), so ``durable`` has nothing to add;
* ``mmap=True`` needs a local file to map: it raises ``ValueError``;
* :meth:`RemoteFolder.load_many` and
  :meth:`RemoteFolder.dump_many` read and write many objects
  concurrently;
* the stash pickles as its URL and storage options and reconnects where it
  is unpickled (another process, a Dask worker).

>>> from hutch import DirectoryStash
>>> s = DirectoryStash('memory://doc/objectstore')
>>> s.dump('a/b', [1, 2]); s.dump('n', None)
>>> sorted(s.keys()), s.load('a/b'), s['n'], str(s.key_to_path('a/b'))
(['a/b', 'n'], [1, 2], None, 'memory://doc/objectstore/a%2Fb.dat')
>>> s.clear(); s.keys()
[]
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Optional, Union

from .. import _keys
from .._files import temp_target
from .._urls import as_upath, redact
from ..errors import deserialize_error, serialize_error
from ..serial import Serializer
from ..util import MISSING
from ._remote import Folder
from .base import Stash
from .check import CheckReport

__all__ = ['RemoteFolder', 'RemoteIncrementKeyMixin', 'remote_class']

logger = logging.getLogger(__name__)

_LONG_HEAD = 1 << 16  # what a long key's header read fetches at most


def _joined(chunks: list[Any]) -> bytes:
    return chunks[0] if len(chunks) == 1 and isinstance(chunks[0], bytes) \
        else b''.join(chunks)


def _rebuild(local: type, state: dict[str, Any]) -> Any:
    """The stash of folder stash class ``local`` whose pickled state is
    ``state``: made on its URL as a new one is, so it reconnects."""
    path = state.pop('_path')
    stash: Any = local.__new__(local, path)
    stash.__dict__.update(state)
    stash.path = path  # reconnects
    return stash


class RemoteFolder:
    """What a folder stash does differently when its folder is a prefix on
    an fsspec file system (see the module).

    It sits in a folder stash class's order of bases right above the
    folder stash it changes (:func:`remote_class` puts it there), so it
    needs no import of that class: its methods replace the local file
    system's, and everything else is the folder stash's own.
    """

    _local_class: type
    _prefix: str
    _suffix: str
    _dir: str
    _path: Any
    _folder: Folder
    _names: _keys.FileNames
    _width: int
    shard: int
    mmap: bool
    pattern: str
    serializer: Serializer
    shareable: bool
    multihost: bool

    if TYPE_CHECKING:  # the folder stash's own, found above this class
        def _shard_of(self, key: str) -> str: ...

        def _unreadable(self, error: Any, key: str, file: str) -> Any: ...

    def _check_path(self, path: Any,
                    storage_options: Optional[Mapping[str, Any]]) -> Any:
        return as_upath(path, storage_options)

    @property
    def path(self) -> Any:
        """The folder, a ``UPath`` (settable, to a URL or a ``UPath``)."""
        return self._path

    @path.setter
    def path(self, path: Any) -> None:
        upath = as_upath(path, None)
        self._folder = Folder(upath)
        self._path = upath
        self._setup()

    def _setup(self) -> None:
        if self.mmap:
            raise ValueError(f'mmap=True maps a local file; {self._folder.url} '
                             'is not one (load reads its objects into memory)')
        folder = self._folder
        self._dir = folder.root
        self._names = _keys.folder_names(self._prefix, self._suffix,
                                         read_key=self._long_key_at)
        self._width = len(f'{self.shard - 1:x}') if self.shard else 0
        self.shareable = folder.shared
        self.multihost = folder.multihost

    @property
    def url(self) -> str:
        """The URL of the folder (no storage options)."""
        return self._folder.url

    @property
    def storage_options(self) -> dict[str, Any]:
        """The options the file system is reached with (may hold secrets)."""
        return dict(self._folder.options)

    def _locate(self, key: str) -> tuple[str, bool]:
        name, long = self._names.name_of(key)
        if self.shard:
            return f'{self._dir}/{self._shard_of(key)}/{name}', long
        return f'{self._dir}/{name}', long

    def _long_key_at(self, path: str) -> Optional[str]:
        head = self._folder.head(path, _LONG_HEAD)
        unpacked = _keys.unpack_long_key(head)
        if unpacked is None and len(head) == _LONG_HEAD:  # a longer key
            unpacked = _keys.unpack_long_key(self._folder.head(path, 1 << 24))
        return None if unpacked is None else unpacked[0]

    def key_to_path(self, name: str) -> Any:
        """The object that holds (or would hold) key ``name``, a ``UPath``."""
        return self._path / self.object_name(name)

    def object_name(self, name: str) -> str:
        """The path, relative to the prefix, of the object of key ``name``
        (as :meth:`objects` names it)."""
        return self._locate(name)[0][len(self._dir) + 1:]

    def assert_path_dir(self) -> None:
        """Make the prefix where the file system has folders (object stores
        have none to make)."""
        self._folder.make_folder()

    def check(self, fix: bool = False, values: bool = False) -> CheckReport:
        """With ``values``, the values that can't be read (the other checks
        of a local folder look at file types, which objects don't have)."""
        return Stash.check(self, fix, values)  # type: ignore[arg-type]

    # -- reads -------------------------------------------------------------

    def _decode(self, key: str, file: str, long: bool, data: bytes) -> Any:
        if long:
            payload = _keys.long_key_payload(key, data)
            if payload is None:
                return MISSING
            data = payload
        try:
            return self.serializer.loads(data)
        except Exception as e:
            url = self._folder.url_of(file)
            error = deserialize_error(e, key, url)
            error.__cause__ = e
            return self._unreadable(error, key, url)

    def _read(self, key: str) -> Any:
        file, long = self._locate(key)
        try:
            data = self._folder.get(file, key)
        except FileNotFoundError:
            return MISSING
        return self._decode(key, file, long, data)

    def stored_head(self, key: str, size: int) -> Optional[bytes]:
        """At most the first ``size`` bytes stored for ``key`` (a long key's
        header left out), fetched by one ranged read however large the
        object is; ``None`` when the key is absent.  Nothing is
        deserialized."""
        file, long = self._locate(key)
        extra = len(_keys.pack_long_key(key, b'')) if long else 0
        try:
            data = self._folder.get(file, key, size + extra)
        except FileNotFoundError:
            return None
        return _keys.long_key_payload(key, data) if long else data

    def objects(self) -> dict[str, tuple[int, Optional[float]]]:
        """Size and modification time of every object under the prefix, by
        path relative to it (see :meth:`Folder.objects`)."""
        return self._folder.objects()

    def exists(self, name: str) -> bool:
        file, long = self._locate(name)
        if long:
            return self._long_key_at(file) == name
        return self._folder.isfile(file)

    def keys(self) -> list[str]:
        """Every key, from one listing of the prefix (one recursive listing
        with shards); values are never read."""
        if not self.shard:
            return self._names.keys_of(self._folder.names(), self._dir)
        keys: list[str] = []
        for shard, names in self._shard_names().items():
            found = self._names.keys_of(names, f'{self._dir}/{shard}')
            keys.extend(k for k in found if self._shard_of(k) == shard)
        return keys

    def _shard_names(self) -> dict[str, list[str]]:
        shards: dict[str, list[str]] = {}
        for rel in self._folder.tree():
            shard, _, name = rel.partition('/')
            if '/' in name or len(shard) != self._width or \
                    not all(c in '0123456789abcdef' for c in shard) or \
                    int(shard, 16) >= self.shard:
                continue
            shards.setdefault(shard, []).append(name)
        return shards

    def load_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """The values of those ``keys`` that are stored, their objects read
        concurrently.

        The result is ordered as ``keys``; keys that are absent are left out
        (a stored ``None`` is kept).
        """
        located = {key: self._locate(key) for key in keys}
        found = self._folder.get_many([file for file, _ in located.values()])
        result: dict[str, Any] = {}
        for key, (file, long) in located.items():
            data = found.get(file)
            if data is None:
                continue
            value = self._decode(key, file, long, data)
            if value is not MISSING:
                result[key] = value
        return result

    # -- writes ------------------------------------------------------------

    def _encode(self, name: str, inst: Any) -> tuple[str, list[Any]]:
        file, long = self._locate(name)
        try:
            data = self.serializer.encode(inst)
        except Exception as e:
            raise serialize_error(e, inst, self.serializer.name, name,
                                  self._folder.url_of(file)) from e
        if long:
            data.insert(0, _keys.pack_long_key(name, b''))
        return file, data

    def _store(self, name: str, file: str, data: list[Any]) -> None:
        self._folder.put(file, _joined(data), key=name)

    def dump_many(self, items: Union[Mapping[str, Any],
                                     Iterable[tuple[str, Any]]]) -> None:
        """Store many ``(key, value)`` pairs (or a mapping), their objects
        written concurrently.

        Every value is serialized before any is written, so a value that
        can't be serialized (or a bad key) leaves nothing written; each
        object is published whole, but a failing write may leave the others
        of the batch stored.
        """
        pairs = items.items() if isinstance(items, Mapping) else items
        blobs: dict[str, bytes] = {}
        for key, value in pairs:
            file, data = self._encode(key, value)
            blobs[file] = _joined(data)
        self._folder.put_many(blobs)

    def delete(self, name: Optional[str] = None) -> None:
        file, long = self._locate(name)  # type: ignore[arg-type]
        if long and self._long_key_at(file) != name:
            logger.debug('delete of missing key %r (%s)', name, file)
            return
        self._folder.remove(file, name)

    def clear(self) -> None:
        """Remove every key's object and the temporary objects of this
        stash's pattern; other objects under the prefix, and every object
        outside it, stay."""
        doomed = [self._locate(key)[0] for key in self.keys()]
        mine = self._names
        for rel in self._temps():
            target = temp_target(rel.rpartition('/')[2])
            if target is not None and target.startswith(mine.prefix) and \
                    target.endswith(mine.suffix):
                doomed.append(f'{self._dir}/{rel}')
        self._folder.remove_many(doomed)

    def _temps(self) -> Iterator[str]:
        if self._folder.atomic:  # no temporary objects are ever written
            return iter(())
        if self.shard:
            return (f'{s}/{n}' for s, names in self._shard_names().items()
                    for n in names)
        return iter(self._folder.names())

    # -- identity ----------------------------------------------------------

    def __repr__(self) -> str:
        options = redact(self._folder.options)
        extra = f', storage_options={options!r}' if options else ''
        return (f'{self._local_class.__name__}({self._folder.url!r}, '
                f'pattern={self.pattern!r}{extra})')

    def __reduce__(self) -> Any:
        state = {k: v for k, v in self.__dict__.items()
                 if k not in ('_folder', '_names', 'shareable', 'multihost')}
        return (_rebuild, (self._local_class, state))


class RemoteIncrementKeyMixin:
    """What an :class:`~hutch.IncrementKeyDirectoryStash` on object storage
    does differently: a key is claimed by creating its object only if the
    name is free (S3's conditional write), so writers on any host never get
    the same key.  A file system with no such create refuses ``dump(value)``
    rather than risk handing out a key twice."""

    def dump(self, name: Any, inst: Any = MISSING) -> None:
        stash: Any = self
        if inst is not MISSING:
            super().dump(name, inst)  # type: ignore[misc]
            return
        folder: Folder = stash._folder
        number = stash._next
        if number is None:
            number = stash._last()[0] + 1
        data = _joined(stash._encode(str(number), name)[1])
        while True:
            file = stash._locate(str(number))[0]
            try:
                folder.create(file, data, key=str(number))
                break
            except FileExistsError:  # taken by another writer
                number += 1
        stash._next = number + 1


_CLASSES: dict[type, type] = {}


def remote_class(local: type, base: type, increments: bool = False) -> type:
    """The class a ``local`` folder stash class becomes on a URL, made once
    per class: ``local``'s own methods first, then :class:`RemoteFolder`,
    then ``base``, the folder stash whose file system it replaces (an
    ``increments`` class also claims keys as
    :class:`RemoteIncrementKeyMixin` does).  It pickles as itself and
    reads as ``local``.
    """
    made = _CLASSES.get(local)
    if made is not None:
        return made
    if not issubclass(local, base):
        raise TypeError(f'{local.__name__} is no {base.__name__}')
    bases: tuple[type, ...] = (RemoteFolder, base)
    if local is not base:
        bases = (local, remote_class(base, base))
    if increments:
        bases = (RemoteIncrementKeyMixin, *bases)
    made = type(local.__name__, bases, {
        '_local_class': local, '__module__': local.__module__,
        '__qualname__': local.__qualname__,
        '__doc__': local.__doc__})
    _CLASSES[local] = made
    return made

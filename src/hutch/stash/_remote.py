"""A folder on an fsspec file system: the few primitives a folder stash needs.

:class:`~hutch.DirectoryStash` keeps one file per key in a local folder
through :mod:`os`; given an fsspec URL (``s3://bucket/prefix``,
``gs://``, ``az://``, ``memory://`` ...) or a ``upath.UPath`` it keeps the
same files as objects under that prefix through a :class:`Folder`:

* read an object whole; many at once, concurrently (``cat`` of a list);
* publish an object whole: an object store's PUT is atomic, so readers
  never see part of a value; on other file systems a temporary object is
  written and then moved into place;
* create an object only if its name is free (S3's conditional
  ``If-None-Match: *`` write), for keys that must be handed out once;
* list the names under the prefix in one (paginated) listing, never
  reading a value, and never from a stale listing cache;
* tell whether an object exists from its metadata, without a download;
* delete objects, one or many in one request.

Nothing here is imported by ``import hutch`` or by a local folder stash:
fsspec loads when a URL is first given (see :mod:`hutch._urls`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Optional

from .._files import temp_name
from .._urls import fsspec_module, redact
from ..errors import PersistableError

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

__all__ = ['Folder', 'RemoteFile']

#: file systems whose object PUT is atomic: a reader sees the old object or
#: the new one, never part of one
_ATOMIC_PUT = frozenset({'s3', 's3a', 'gs', 'gcs', 'az', 'abfs', 'abfss',
                         'adl', 'memory'})

#: file systems with a real exclusive create (``pipe_file(mode='create')``
#: fails with ``FileExistsError`` when the name is taken); fsspec's
#: generic fallback tests and then writes, which two writers can both pass
_EXCLUSIVE = frozenset({'s3', 's3a', 'memory'})

#: file systems whose data lives in one process (a forked or unpickled
#: copy starts empty or apart)
_PROCESS_LOCAL = frozenset({'memory'})


_TIME_FIELDS = ('LastModified', 'mtime', 'last_modified', 'updated',
                'modified', 'created')


def _mtime(info: dict[str, Any]) -> Optional[float]:
    """The modification time in an fsspec listing entry, in POSIX seconds:
    each file system names and types it its own way."""
    import datetime as dt

    for name in _TIME_FIELDS:
        value = info.get(name)
        if isinstance(value, dt.datetime):
            return value.timestamp()
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return dt.datetime.fromisoformat(value).timestamp()
            except ValueError:
                continue
    return None


class Folder:
    """The objects under one prefix of an fsspec file system.

    :param upath: the folder, a ``UPath`` holding its storage options

    Listings are never served from a cache (the file system is made with
    ``use_listings_cache=False``): another process's writes show in the
    next :meth:`names`.  Every error of the file system but a missing
    object (fsspec's, botocore's, aiohttp's ...) comes out as a
    :class:`~hutch.errors.PersistableError` naming the object's URL, never
    the options.
    """

    _create_lock = threading.Lock()  # memory://: one process, many threads

    def __init__(self, upath: Any) -> None:
        fsspec = fsspec_module()
        self.protocol: str = upath.protocol
        self.options: dict[str, Any] = dict(upath.storage_options)
        cls = fsspec.get_filesystem_class(self.protocol)
        root = cls._strip_protocol(str(upath)).rstrip('/')
        if not root.strip('/'):
            raise ValueError(f'a URL folder needs a path below the top of '
                             f'its file system, got {str(upath)!r}')
        self.root: str = root
        self.fs: AbstractFileSystem = fsspec.filesystem(
            self.protocol, **{'use_listings_cache': False, **self.options})
        self.url = str(self.fs.unstrip_protocol(root))
        self.atomic = self.protocol in _ATOMIC_PUT
        self.exclusive = self.protocol in _EXCLUSIVE
        self.shared = self.protocol not in _PROCESS_LOCAL
        self.multihost = self.shared and self.atomic

    # -- names ---------------------------------------------------------------

    def url_of(self, path: str) -> str:
        """The URL of the object at ``path`` (a path of :attr:`fs`)."""
        return str(self.fs.unstrip_protocol(path))

    def _error(self, doing: str, e: Exception, key: Optional[str],
               path: str) -> PersistableError:
        # the message of a file system error names the object, never the
        # options it was reached with
        return PersistableError(f'cannot {doing}: {type(e).__name__}: {e}',
                                key=key, path=self.url_of(path))

    # -- reads ---------------------------------------------------------------

    def get(self, path: str, key: Optional[str] = None,
            size: Optional[int] = None) -> bytes:
        """The bytes of the object at ``path``; with ``size``, at most its
        first ``size`` bytes, fetched by one ranged read.

        :raises FileNotFoundError: there is none (or it is a folder)
        :raises PersistableError: it can't be read (no permission ...)
        """
        try:
            if size is None:
                data: bytes = self.fs.cat_file(path)
            elif size > 0 and self.fs.size(path) > 0:
                data = self.fs.cat_file(path, start=0, end=size)
            else:  # a range of an empty object is refused by S3
                data = b''
            return data
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise FileNotFoundError(path) from None
        except Exception as e:
            raise self._error('read', e, key, path) from e

    def get_many(self, paths: list[str]) -> dict[str, Any]:
        """The bytes of each object of ``paths``, read concurrently where
        the file system can; a missing one maps to ``None``.

        :raises PersistableError: one can't be read (no permission ...)
        """
        if not paths:
            return {}
        try:
            found = self.fs.cat(paths, on_error='return')
        except Exception as e:
            raise self._error('read', e, None, paths[0]) from e
        if not isinstance(found, dict):  # one path: fsspec gives its bytes
            found = {paths[0]: found}
        result: dict[str, Any] = {}
        for path in paths:
            data = found.get(path)
            if isinstance(data, (FileNotFoundError, IsADirectoryError,
                                 NotADirectoryError)):
                data = None
            elif isinstance(data, Exception):
                raise self._error('read', data, None, path) from data
            result[path] = data
        return result

    def head(self, path: str, size: int) -> bytes:
        """At most the first ``size`` bytes of the object at ``path`` (``b''``
        when there is none)."""
        try:
            data: bytes = self.fs.cat_file(path, start=0, end=size)
            return data
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return b''
        except Exception as e:
            raise self._error('read', e, None, path) from e

    def isfile(self, path: str) -> bool:
        """Whether an object is at ``path``, from its metadata alone."""
        try:
            return bool(self.fs.isfile(path))
        except Exception as e:
            raise self._error('look up', e, None, path) from e

    def _entries(self, folder: str) -> list[dict[str, Any]]:
        try:
            entries: list[dict[str, Any]] = self.fs.ls(folder, detail=True)
            return entries
        except (FileNotFoundError, NotADirectoryError):
            return []
        except Exception as e:
            raise self._error('list', e, None, folder) from e

    def names(self) -> list[str]:
        """The names of the objects right under the prefix (no folders),
        from one listing."""
        start = len(self.root) + 1
        return [e['name'][start:] for e in self._entries(self.root)
                if e.get('type') == 'file'
                and e['name'].startswith(self.root + '/')]

    def tree(self) -> list[str]:
        """The paths, relative to the prefix, of every object below it, from
        one recursive listing (one paginated request stream on an object
        store)."""
        try:
            found: list[str] = self.fs.find(self.root)
        except (FileNotFoundError, NotADirectoryError):
            return []
        except Exception as e:
            raise self._error('list', e, None, self.root) from e
        start = len(self.root) + 1
        return [p[start:] for p in found if p.startswith(self.root + '/')]

    def objects(self) -> dict[str, tuple[int, Optional[float]]]:
        """The size and modification time (POSIX seconds, ``None`` when the
        file system gives none) of every object below the prefix, by path
        relative to it, from one recursive listing; nothing is read."""
        try:
            found: dict[str, dict[str, Any]] = self.fs.find(
                self.root, detail=True)
        except (FileNotFoundError, NotADirectoryError):
            return {}
        except Exception as e:
            raise self._error('list', e, None, self.root) from e
        start = len(self.root) + 1
        return {path[start:]: (int(info.get('size') or 0), _mtime(info))
                for path, info in found.items()
                if path.startswith(self.root + '/')}

    # -- writes --------------------------------------------------------------

    def put(self, path: str, data: bytes, key: Optional[str] = None) -> None:
        """Publish ``data`` as the object at ``path``, whole."""
        try:
            if self.atomic:
                self.fs.pipe_file(path, data)
                return
            folder, _, name = path.rpartition('/')
            tmp = f'{folder}/{temp_name(name)}'
            self.fs.pipe_file(tmp, data)
            try:
                self.fs.mv(tmp, path)
            except BaseException:
                self._discard(tmp)
                raise
        except Exception as e:
            raise self._error('write', e, key, path) from e

    def put_many(self, items: dict[str, bytes]) -> None:
        """Publish each object of ``items`` (path to bytes), concurrently
        where the file system can."""
        if not self.atomic or len(items) < 2:
            for path, data in items.items():
                self.put(path, data)
            return
        try:
            self.fs.pipe(items)
        except Exception as e:
            raise self._error('write', e, None, next(iter(items))) from e

    def create(self, path: str, data: bytes, key: Optional[str] = None) -> None:
        """Publish ``data`` at ``path`` only if no object is there.

        :raises FileExistsError: the name is taken
        :raises PersistableError: the file system has no exclusive create
        """
        if not self.exclusive:
            raise PersistableError(
                f'the file system of {self.protocol}:// offers no exclusive '
                'create, so keys could be handed out twice', key=key,
                path=self.url_of(path))
        try:
            if self.protocol in _PROCESS_LOCAL:
                with self._create_lock:
                    self.fs.pipe_file(path, data, mode='create')
            else:
                self.fs.pipe_file(path, data, mode='create')
        except FileExistsError:
            raise
        except Exception as e:
            raise self._error('write', e, key, path) from e

    def _discard(self, path: str) -> None:
        try:
            self.fs.rm_file(path)
        except FileNotFoundError:
            pass

    def remove(self, path: str, key: Optional[str] = None) -> None:
        """Delete the object at ``path``; none there is no error."""
        try:
            self._discard(path)
        except (IsADirectoryError, NotADirectoryError):
            pass  # a folder is never a key's object
        except Exception as e:
            raise self._error('delete', e, key, path) from e

    def remove_many(self, paths: Iterable[str]) -> None:
        """Delete the objects at ``paths`` (in batches where the file system
        can); missing ones are no error."""
        paths = list(paths)
        if not paths:
            return
        if self.protocol in _PROCESS_LOCAL:
            for path in paths:
                self.remove(path)
            return
        try:
            self.fs.rm(paths)
        except FileNotFoundError:
            for path in paths:
                self.remove(path)
        except Exception as e:
            raise self._error('delete', e, None, paths[0]) from e

    def make_folder(self) -> None:
        """Make the prefix where the file system has folders."""
        try:
            self.fs.makedirs(self.root, exist_ok=True)
        except Exception as e:
            raise self._error('make the folder', e, None, self.root) from e

    def __repr__(self) -> str:
        return f'Folder({self.url!r}, storage_options={redact(self.options)!r})'


class RemoteFile:
    """One object, named by a ``UPath``: what a persisted work keeps its
    value in when its path is a URL.

    :param upath: the object
    """

    def __init__(self, upath: Any) -> None:
        self.folder = Folder(upath.parent)
        self.path = f'{self.folder.root}/{upath.name}'
        self.url = self.folder.url_of(self.path)

    def read(self) -> bytes:
        """The object's bytes; ``FileNotFoundError`` when there is none."""
        return self.folder.get(self.path)

    def write(self, data: bytes) -> None:
        """Publish ``data`` as the object, whole."""
        self.folder.put(self.path, data)

    def delete(self) -> None:
        """Remove the object; none there is no error."""
        self.folder.remove(self.path)

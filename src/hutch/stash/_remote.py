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
fsspec loads when a URL is first given.

The options that reach the file system (``storage_options``) often hold
credentials.  :func:`redact` is what every repr and message shows of them:
only the values of a short allow-list of options known to be no secret.

>>> is_remote('s3://bucket/prefix'), is_remote('/tmp/x'), is_remote('file:///tmp')
(True, False, False)
>>> redact({'key': 'AKIA', 'anon': False,
...         'client_kwargs': {'endpoint_url': 'http://127.0.0.1:9000'}})
{'key': '***', 'anon': False, 'client_kwargs': {'endpoint_url': 'http://127.0.0.1:9000'}}
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Optional

from .._files import temp_name
from ..errors import PersistableError

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

__all__ = ['is_remote', 'redact', 'as_upath', 'Folder']

_URL = re.compile(r'[A-Za-z][A-Za-z0-9+.\-]+://')
_LOCAL_PROTOCOLS = frozenset({'', 'file', 'local'})

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

#: storage options whose values are never secret: shown in reprs; every
#: other option's value is shown as ``***``
PUBLIC_OPTIONS = frozenset({
    'anon', 'endpoint_url', 'region_name', 'use_ssl', 'requester_pays',
    'version_aware', 'default_block_size', 'use_listings_cache',
    'skip_instance_cache', 'client_kwargs', 'config_kwargs', 'project',
    'account_name', 'max_concurrency', 'listings_expiry_time',
})

_HIDDEN = '***'


def is_remote(path: object) -> bool:
    """Whether ``path`` names a folder reached through fsspec: a URL with
    a protocol other than ``file``, or a ``UPath`` of one.  Cheap: imports
    nothing."""
    if isinstance(path, str):
        match = _URL.match(path)
        return match is not None and \
            path[:match.end() - 3].lower() not in _LOCAL_PROTOCOLS
    protocol = getattr(path, 'protocol', None)
    return isinstance(protocol, str) and protocol not in _LOCAL_PROTOCOLS \
        and hasattr(path, 'storage_options') and hasattr(path, 'fs')


def redact(options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` with every value hidden but those of
    :data:`PUBLIC_OPTIONS` (nested dicts are redacted the same way)."""
    shown: dict[str, Any] = {}
    for name, value in options.items():
        if name not in PUBLIC_OPTIONS:
            shown[name] = _HIDDEN
        elif isinstance(value, Mapping):
            shown[name] = redact(value)
        else:
            shown[name] = value
    return shown


def _fsspec() -> Any:
    try:
        import fsspec
    except ImportError as e:  # pragma: no cover -- the extra is installed
        raise ImportError("a URL folder needs fsspec and universal-pathlib: "
                          "pip install 'hutch[remote]' (or 'hutch[s3]')"
                          ) from e
    return fsspec


def as_upath(path: Any, storage_options: Optional[Mapping[str, Any]]) -> Any:
    """``path`` (a URL or a ``UPath``) as a ``UPath`` carrying
    ``storage_options`` on top of its own."""
    _fsspec()
    try:
        from upath import UPath
    except ImportError as e:  # pragma: no cover -- the extra is installed
        raise ImportError("a URL folder needs universal-pathlib: "
                          "pip install 'hutch[remote]'") from e
    if storage_options is not None and not isinstance(storage_options,
                                                        Mapping):
        raise TypeError(f'storage_options must be a dict, got '
                        f'{type(storage_options).__name__}')
    options = dict(storage_options or {})
    if isinstance(path, str):
        return UPath(path, **options)
    if options:
        return UPath(str(path), **{**path.storage_options, **options})
    return path


class Folder:
    """The objects under one prefix of an fsspec file system.

    :param upath: the folder, a ``UPath`` holding its storage options

    Listings are never served from a cache (the file system is made with
    ``use_listings_cache=False``): another process's writes show in the
    next :meth:`names`.
    """

    _create_lock = threading.Lock()  # memory://: one process, many threads

    def __init__(self, upath: Any) -> None:
        fsspec = _fsspec()
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

    def get(self, path: str, key: Optional[str] = None) -> bytes:
        """The bytes of the object at ``path``.

        :raises FileNotFoundError: there is none (or it is a folder)
        :raises PersistableError: it can't be read (no permission ...)
        """
        try:
            data: bytes = self.fs.cat_file(path)
            return data
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise FileNotFoundError(path) from None
        except OSError as e:
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
        except OSError as e:
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
        except OSError as e:
            raise self._error('read', e, None, path) from e

    def isfile(self, path: str) -> bool:
        """Whether an object is at ``path``, from its metadata alone."""
        try:
            return bool(self.fs.isfile(path))
        except OSError as e:
            raise self._error('look up', e, None, path) from e

    def _entries(self, folder: str) -> list[dict[str, Any]]:
        try:
            entries: list[dict[str, Any]] = self.fs.ls(folder, detail=True)
            return entries
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as e:
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
        except OSError as e:
            raise self._error('list', e, None, self.root) from e
        start = len(self.root) + 1
        return [p[start:] for p in found if p.startswith(self.root + '/')]

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
        except OSError as e:
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
        except OSError as e:
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
        except OSError as e:
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
        except OSError as e:
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
        except OSError as e:
            raise self._error('delete', e, None, paths[0]) from e

    def make_folder(self) -> None:
        """Make the prefix where the file system has folders."""
        try:
            self.fs.makedirs(self.root, exist_ok=True)
        except OSError as e:
            raise self._error('make the folder', e, None, self.root) from e

    def __repr__(self) -> str:
        return f'Folder({self.url!r}, storage_options={redact(self.options)!r})'

"""A directory stash on object storage, as the ``hutch`` command sees it.

A URL (``s3://bucket/prefix``, ``gs://``, ``memory://`` ... any fsspec
protocol) names a folder stash whose files are objects under the prefix,
opened through :class:`~hutch.DirectoryStash`'s URL support to give raw
bytes, as a local folder is.  Its file name pattern and shard count are
worked out by the same rule as a local folder's
(:func:`~hutch.cli.folders.layout_of`), from one listing of the prefix.
What differs from a local folder:

* sizes and times (``ls -l``, ``info``) come from the listing: nothing is
  downloaded to tell them;
* reading a value for ``show`` fetches at most what the command shows, by a
  ranged read, however large the object is;
* ``check`` reports what the remote stash's own check does (its keys; with
  ``--values`` the values that can't be read).

This module loads fsspec only when a URL is opened: a local path never
reaches it.
"""

from __future__ import annotations

from typing import Any, Optional

from .._files import is_temp_name
from .._urls import as_upath, redact
from ..stash.check import CheckReport
from .detect import shard_names
from .folders import data_names, layout_of, shard_count
from .targets import FolderTarget, Options, TargetError

_SHELF_ENDS = ('.dat', '.dir', '.bak')  # the files of a dbm.dumb shelf

__all__ = ['RemoteDirectoryTarget']


def _layout_names(objects: dict[str, Any]) -> tuple[
        list[str], dict[str, list[str]], bool]:
    """From the relative paths of the objects under a prefix: the data file
    names right under it, each shard folder's data file names, and whether
    it holds (other) folders."""
    top = [p for p in objects if '/' not in p]
    folders = {p.partition('/')[0] for p in objects if '/' in p}
    shards: dict[str, list[str]] = {
        s: [] for s in shard_names(top, folders)}
    for path in objects:
        shard, _, name = path.partition('/')
        if shard in shards and name and '/' not in name:
            shards[shard].append(name)
    return (data_names(top), {s: data_names(n) for s, n in shards.items()},
            bool(folders) and not shards)


class RemoteDirectoryTarget(FolderTarget):
    """A folder stash under a prefix of an fsspec file system (see
    :class:`FolderTarget`)."""

    stored_as = ('stored', 'object')
    #: a ``DirectoryStash`` on the URL (a class made on the fly)
    stash: Any

    def __init__(self, url: str, options: Options) -> None:
        from ..stash._remote import Folder

        self.options = options
        self.storage_options = dict(options.storage_options or {})
        upath = as_upath(url, self.storage_options)
        folder = Folder(upath)
        self.url = folder.url
        self.place = self.url
        self._objects = folder.objects()
        top, shards, subfolders = _layout_names(self._objects)
        self.layout = layout_of(top, shards, subfolders, self.url,
                                options.pattern)
        self.pattern = self.layout.pattern
        self.shard = options.shard if options.shard is not None else \
            0 if not shards else shard_count(
                shards, self.pattern,
                lambda count: len(self._open(count).keys()), self.url)
        self.stash = self._open(self.shard)
        self._shelf_files = {f'{shelf}{end}': shelf
                             for shelf in self.layout.shelves
                             for end in _SHELF_ENDS}

    def _open(self, shard: int) -> Any:
        from ..stash.directory import DirectoryStash

        return DirectoryStash(
            self.url, pattern=self.pattern, serializer='bytes', shard=shard,
            storage_options=self.storage_options)

    def _shelf_of(self, key: str) -> Optional[str]:
        """The shelf beside the stash's objects whose object the stash
        would read as ``key``'s, if any."""
        if not self._shelf_files:
            return None
        return self._shelf_files.get(self.stash.object_name(key))

    def missing(self, key: str) -> TargetError:
        if self._shelf_of(key) is None:
            return super().missing(key)
        return TargetError(f'{key!r} is a file of a dbm shelf under this '
                           'prefix, not a key', path=self.url)

    def location(self) -> tuple[str, str]:
        return 'url', self.url

    def raw(self, key: str, limit: Optional[int] = None) -> Optional[bytes]:
        """The bytes stored under ``key``; with ``limit``, at most one byte
        more than it, by a ranged read."""
        if self._shelf_of(key):
            return None
        if limit is None:
            data = self.stash.load(key)
            return data if isinstance(data, bytes) else None
        data = self.stash.stored_head(key, limit + 1)
        return data if isinstance(data, bytes) else None

    def entry(self, key: str) -> tuple[Optional[int], Optional[float]]:
        found = self._objects.get(self.stash.object_name(key))
        return (None, None) if found is None else found

    def where(self, key: str) -> str:
        return str(self.stash.key_to_path(key))

    def stored(self) -> tuple[int, int]:
        """The sizes of the objects under the prefix, from the listing."""
        sizes = [size for path, (size, _) in self._objects.items()
                 if not is_temp_name(path.rpartition('/')[2])]
        return sum(sizes), len(sizes)

    def check(self, fix: bool = False) -> CheckReport:
        report: CheckReport = self.stash.check(fix=fix)
        return report

    def details(self) -> list[tuple[str, str]]:
        rows = super().details()
        if self.storage_options:
            rows.append(('options', repr(redact(self.storage_options))))
        return rows

    def __repr__(self) -> str:
        return f'RemoteDirectoryTarget({self.url!r})'

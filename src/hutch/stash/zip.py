"""A read-only stash over the entries of a zip file.

:class:`ZipStash` lets a zip archive (a data set shipped as one file, say)
stand in wherever a stash is read: its keys are the names of the files in
the archive, below an optional root folder, and its values are their bytes
(or text, when an encoding is given).
"""

from __future__ import annotations

import codecs
import logging
import os
import threading
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Optional, Union

from .. import _process
from .._files import READ_LIMIT, check_path
from .._keys import key_type_error
from ..errors import BadValueError, CorruptDataError, PersistableError
from ..util import MISSING, check_int
from ._zip_check import check_archive
from .base import CloseableStash, ReadOnlyStash, _PicklesByArguments
from .check import CheckReport

__all__ = ['ZipStash']

logger = logging.getLogger(__name__)

_Open = tuple[zipfile.ZipFile, dict[str, zipfile.ZipInfo]]


class ZipStash(_PicklesByArguments, ReadOnlyStash, CloseableStash):
    """The files in a zip archive, read-only, keyed by their names.

    Keys are the names of the archive's files below :attr:`root`, with the
    root folder taken off; folders are not keys.  :meth:`load` gives an
    entry's bytes, or its text when :attr:`encoding` is set.  Writes are
    ignored (or refused when :attr:`strict`).

    The archive is opened on first use and stays open until :meth:`close`
    (the stash is also a context manager); a forked child opens its own
    handle, and the stash pickles by path.

    :param path: the zip file
    :param root: the folder inside the archive whose files are the keys
        (``'data/corpus'``: no ``/`` at either end); the whole archive when
        ``None``
    :param encoding: decode entries with this encoding; bytes when ``None``
    :param read_limit: the most bytes a read of one entry gives (64 MiB
        unless given; ``None``: no limit).  An archive of a few kilobytes
        can hold an entry that expands to gigabytes, so a larger entry
        raises :class:`~hutch.CorruptDataError` naming it, before any of
        it is read.

    :raises BadValueError: (a :class:`~hutch.errors.PersistableError` and
        a ``ValueError``) when ``root`` starts or ends with ``/``, as the
        original API refuses it
    :raises PersistableError: on first use, naming the path, when the file
        is missing or is not a zip archive

    >>> import os, tempfile, zipfile
    >>> path = os.path.join(tempfile.mkdtemp(), 'data.zip')
    >>> with zipfile.ZipFile(path, 'w') as z:
    ...     z.writestr('corpus/a.txt', 'alpha')
    ...     z.writestr('corpus/sub/b.txt', 'beta')
    ...     z.writestr('README', 'not in the corpus')
    >>> with ZipStash(path, root='corpus', encoding='utf-8') as s:
    ...     sorted(s.keys()), s['sub/b.txt'], s.load('README')
    (['a.txt', 'sub/b.txt'], 'beta', None)
    """

    #: pickled by path, never by open archive
    _PICKLED = ('_path', 'root', 'encoding', 'strict', 'read_limit')

    def __init__(self, path: Union[str, os.PathLike[str]],
                 root: Optional[str] = None,
                 encoding: Optional[str] = None,
                 read_limit: Optional[int] = READ_LIMIT) -> None:
        path = check_path(path)
        if read_limit is not None:
            check_int(read_limit, 'read_limit', low=1)
        if root is not None:
            if not isinstance(root, str):
                raise TypeError(f'root must be a str or None, got {root!r}')
            if root.startswith('/') or root.endswith('/'):
                raise BadValueError(
                    f"Roots can not start or end with '/': {root!r} (name "
                    'the folder inside the archive, as data/corpus)',
                    path=path)
        if encoding is not None:
            if not isinstance(encoding, str):
                raise TypeError(
                    f'encoding must be a str or None, got {encoding!r}')
            try:
                codecs.lookup(encoding)
            except LookupError as e:
                raise ValueError(f'unknown encoding {encoding!r}') from e
        self._path = Path(path)
        self.root = root
        self.encoding = encoding
        self.read_limit = read_limit
        self._setup()

    @property
    def path(self) -> Path:
        """The zip file; setting it closes the archive open now, so the next
        read opens (and lists) the new one."""
        return self._path

    @path.setter
    def path(self, path: Union[str, os.PathLike[str]]) -> None:
        self.close()
        self._path = Path(check_path(path))

    def _setup(self) -> None:
        root = (self.root or '').strip('/')
        self._prefix = f'{root}/' if root else ''
        self._lock = threading.Lock()
        self._open_zip: Optional[_Open] = None
        self._pid = -1

    def _archive(self) -> _Open:
        """The open archive and its entries by key, opening it if need be."""
        state = self._open_zip
        if state is not None and self._pid == _process.pid:
            return state
        with self._lock:
            state = self._open_zip
            if state is None or self._pid != _process.pid:
                state = self._open_zip = self._open()
                self._pid = _process.pid
            return state

    def _index(self) -> dict[str, zipfile.ZipInfo]:
        return self._archive()[1]

    def _open(self) -> _Open:
        # a handle inherited through fork shares its file offset with the
        # parent's, so the child opens its own and leaves that one alone
        try:
            archive = zipfile.ZipFile(self.path)
        except FileNotFoundError as e:
            raise PersistableError('no such zip file', path=self.path) from e
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            raise PersistableError(
                f'cannot read zip file: {e}', path=self.path) from e
        entries = {key: info for info in archive.infolist()
                   if (key := self._key_of(info)) is not None}
        logger.debug('opened %s: %d entries', self.path, len(entries))
        return archive, entries

    def _key_of(self, info: zipfile.ZipInfo) -> Optional[str]:
        """The key of entry ``info``; ``None`` for a folder, or an entry
        outside :attr:`root`."""
        name, n = info.filename, len(self._prefix)
        if not name.startswith(self._prefix) or info.is_dir() or \
                len(name) <= n:
            return None
        return name[n:]

    def check(self, fix: bool = False, values: bool = False) -> CheckReport:
        """The archive's CRCs and directory, below :attr:`root`: entries
        that don't read back whole, declare more than :attr:`read_limit`
        or run past the end of the file, names that occur twice or are cut
        at a NUL byte; with ``values`` also entries not in the
        :attr:`encoding` (see :mod:`hutch.stash._zip_check`).  The archive
        is read-only: ``fix`` changes nothing.

        :raises PersistableError: when the file is missing or no zip
        """
        return check_archive(self, values)

    def close(self) -> None:
        """Close the archive; the next read opens it again."""
        with self._lock:
            state, self._open_zip = self._open_zip, None
            mine = self._pid == _process.pid
        if state is not None and mine:
            state[0].close()

    def load(self, name: str) -> Any:
        item = self._read(name)
        return None if item is MISSING else item

    def lookup(self, name: str) -> Any:
        return self._read(name)

    def get(self, name: str, default: Any = None) -> Any:
        item = self._read(name)
        return default if item is MISSING else item

    def _read(self, name: str) -> Any:
        """The entry's content, or :data:`~hutch.MISSING` when it has none."""
        if not isinstance(name, str):
            raise key_type_error(name)
        archive, entries = self._archive()
        info = entries.get(name)
        if info is None:
            return MISSING
        data = self._read_entry(archive, info, name)
        if self.encoding is None:
            return data
        try:
            return data.decode(self.encoding)
        except UnicodeDecodeError as e:
            raise CorruptDataError(
                f'entry is not {self.encoding} text: {e}',
                key=name, path=self.path) from e

    def _read_entry(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo,
                    name: str) -> bytes:
        """The bytes of entry ``info`` (of key ``name``), refused when it
        declares more than :attr:`read_limit` (:mod:`zipfile` reads no
        more than an entry declares: data that expands past it fails its
        CRC check)."""
        limit = self.read_limit
        if limit is not None and info.file_size > limit:
            raise self._too_large(name, info.file_size)
        try:
            return archive.read(info)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError,
                NotImplementedError) as e:
            raise CorruptDataError(f'cannot read zip entry: {e}',
                                   key=name, path=self.path) from e

    def _too_large(self, name: str, size: int) -> CorruptDataError:
        return CorruptDataError(
            f'the zip entry expands to {size:,} bytes, more than read_limit '
            f'({self.read_limit:,} bytes); give ZipStash a larger '
            'read_limit to read it', key=name, path=self.path)

    def exists(self, name: str) -> bool:
        if not isinstance(name, str):
            raise key_type_error(name)
        return name in self._index()

    def keys(self) -> Iterable[str]:
        return list(self._index())

    def __len__(self) -> int:
        return len(self._index())

    def __repr__(self) -> str:
        return f'{type(self).__name__}({str(self.path)!r}, root={self.root!r})'

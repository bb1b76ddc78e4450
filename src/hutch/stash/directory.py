"""Stashes that keep one file per key in a folder.

:class:`DirectoryStash` is the plain one: ``path/<key>.dat`` holds a pickle
(by default), the same file the original API writes.  On top of that it
guarantees what every durable stash of hutch does:

* **atomic dumps** -- a value goes to a unique temporary file that is then
  renamed into place (:mod:`hutch._files`); readers never see a torn file,
  temporary files are never keys, and :meth:`~DirectoryStash.clear` removes
  the stale ones a killed writer left;
* **safe keys** -- any ``str`` key round-trips through :mod:`hutch._keys`;
  no key can name a file outside the folder;
* **cheap listing** -- ``keys()``, ``len()`` and ``exists()`` never read a
  value; ``keys()`` is one ``os.scandir`` pass (per shard folder);
* **clear errors** -- a file that cannot be read back raises
  :class:`~hutch.errors.CorruptDataError` naming the key and the file;
* **large values at disk speed** -- a value holding large buffers (numpy
  arrays ...) is written with one ``write`` per buffer and read straight
  into its final memory (see :mod:`hutch._layout`); ``mmap=True`` returns
  its arrays as read-only views of the file instead, at a cost that does
  not grow with the size.

:class:`IncrementKeyDirectoryStash` adds integer keys handed out safely
across processes.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import zlib
from collections.abc import Iterator, Mapping
from io import FileIO
from pathlib import Path
from string import Formatter
from typing import Any, Optional

from .. import _keys, _urls
from .._files import (
    atomic_write,
    check_folder,
    check_path,
    finished_temp,
    open_folder,
    read_head,
    remove_stale_temps,
)
from .._layout import Chunk
from ..errors import (
    ForeignFileError,
    PersistableError,
    deserialize_error,
    serialize_error,
)
from ..serial import SerializerSpec, get_serializer
from ..util import MISSING, check_int
from .base import CloseableStash
from .check import CheckReport, check_files

__all__ = ['DirectoryStash', 'IncrementKeyDirectoryStash']

logger = logging.getLogger(__name__)

_ON_ERROR = ('raise', 'missing')
_WRITE_ATTEMPTS = 20  # a dump racing clear()s gives up after this many


def _parse_pattern(pattern: object) -> tuple[str, str]:
    """The text before and after ``{name}`` in a file name pattern."""
    if not isinstance(pattern, str):
        raise TypeError(f'pattern must be a str, got {pattern!r}')
    try:
        parts = list(Formatter().parse(pattern))
    except ValueError as e:
        raise ValueError(f'bad pattern {pattern!r}: {e}') from e
    fields = [p for p in parts if p[1] is not None]
    if len(fields) != 1 or fields[0][1:] != ('name', '', None):
        raise ValueError(
            f'pattern must hold "{{name}}" exactly once and no other field, '
            f'got {pattern!r}')
    at = parts.index(fields[0])
    prefix = ''.join(p[0] for p in parts[:at + 1])
    suffix = ''.join(p[0] for p in parts[at + 1:])
    for text in (prefix, suffix):
        if any(c in text for c in '/\\\x00'):
            raise ValueError(
                f'pattern must name a file in the folder, got {pattern!r}')
    if len((prefix + suffix).encode('utf-8')) > 100:
        raise ValueError(f'pattern {pattern!r} leaves too little room '
                         'for the key in a file name')
    return prefix, suffix



def _file_names(folder: str) -> list[str]:
    """The names of the regular files in ``folder``, in one pass.

    What :func:`~hutch._files.read_head` would read: a folder, a symbolic
    link (even to a file), a FIFO or a device is no key's file.  The type
    comes with each name from the directory scan, so no file is looked at
    on its own.
    """
    with os.scandir(folder) as entries:
        return [e.name for e in entries if e.is_file(follow_symlinks=False)]


def _is_regular(path: str) -> bool:
    """Whether ``path`` is a regular file, not a link to one."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return False

def _corrupt(cause: Exception, key: str, file: str) -> PersistableError:
    """The error for a file of ``key`` that could not be read back, caused
    by ``cause``."""
    error = deserialize_error(cause, key, file)
    error.__cause__ = cause
    return error


class DirectoryStash(CloseableStash):
    """One file per key in a folder; the files are interchangeable with pickles.

    :param path: the folder; made on the first :meth:`dump`, never by reads
    :param pattern: the file name of a key, holding ``{name}`` once
    :param serializer: how values become bytes (a name or a
        :class:`~hutch.serial.Serializer`; pickle by default)
    :param shard: ``0`` (the default) keeps every file in ``path``; a
        number ``n >= 2`` spreads them over ``n`` subfolders named in hex
        (``00`` .. ``ff`` for 256) by the key's CRC-32, which is the same in
        every process, so millions of keys don't sit in one flat folder.
        A folder must always be opened with the shard count it was
        written with.
    :param on_error: what :meth:`load` does with a file it cannot read:
        ``'raise'`` (the default) raises
        :class:`~hutch.errors.CorruptDataError`; ``'missing'`` logs a
        warning and treats the key as absent (returns ``None``)
    :param durable: ``fsync`` each file before it is renamed into place
    :param mmap: load the buffers of large values (numpy arrays ...) as
        read-only views of their file instead of reading them into memory;
        a file replaced by a later dump stays valid for the values already
        loaded from it (a local folder only: on a URL it raises
        ``ValueError``)
    :param storage_options: when ``path`` is an fsspec URL
        (``s3://bucket/prefix``, ``gs://``, ``az://``, ``memory://`` ...)
        rather than a local folder, the options of its file system
        (credentials, ``client_kwargs={'endpoint_url': ...}``); ``path``
        may also be a ``upath.UPath``.  The files are then objects under
        that prefix (see :mod:`hutch.stash.objectstore`).

    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> s = DirectoryStash(folder)
    >>> s.dump('item-1', {'a': 1}); s.dump('a/b', None)
    >>> sorted(os.listdir(folder))
    ['a%2Fb.dat', 'item-1.dat']
    >>> s.load('item-1'), sorted(s.keys()), s.key_to_path('item-1').name
    ({'a': 1}, ['a/b', 'item-1'], 'item-1.dat')
    """

    shareable = True
    #: a write renames a finished file into place, so processes on other
    #: hosts sharing the folder never see a torn file or lose a write
    multihost = True

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        # a URL or UPath makes the same stash on object storage (see
        # hutch.stash.objectstore); a local path never loads fsspec
        path = args[0] if args else kwargs.get('path')
        if path is not None and not getattr(cls, '_local_class', None) \
                and _urls.is_remote(path):
            from .objectstore import remote_class
            cls = remote_class(cls, DirectoryStash, issubclass(
                cls, IncrementKeyDirectoryStash))
        return super().__new__(cls)

    def __init__(self, path: str | os.PathLike[str],
                 pattern: str = '{name}.dat',
                 serializer: SerializerSpec = None, shard: int = 0,
                 on_error: str = 'raise', durable: bool = False,
                 mmap: bool = False,
                 storage_options: Optional[Mapping[str, Any]] = None) -> None:
        path = self._check_path(path, storage_options)
        if not isinstance(mmap, bool):
            raise TypeError(f'mmap must be a bool, got {mmap!r}')
        if check_int(shard, 'shard') in (1,) or shard < 0 or shard > 1 << 16:
            raise ValueError(f'shard must be 0 or 2 .. 65536, got {shard}')
        if on_error not in _ON_ERROR:
            raise ValueError(
                f'on_error must be one of {_ON_ERROR}, got {on_error!r}')
        self._prefix, self._suffix = _parse_pattern(pattern)
        self.pattern = pattern
        self.serializer = get_serializer(serializer)
        self.shard = shard
        self.on_error = on_error
        self.durable = durable
        self.mmap = mmap
        self.path = path

    def _check_path(self, path: Any,
                    storage_options: Optional[Mapping[str, Any]]) -> Any:
        """``path`` checked, in the form the ``path`` setter takes."""
        if storage_options is not None:
            raise TypeError('storage_options is for a folder given by URL, '
                            f'not the local folder {os.fspath(path)!r}')
        return check_path(path)

    @property
    def path(self) -> Path:
        """The folder of the files (settable)."""
        return self._path

    @path.setter
    def path(self, path: str | os.PathLike[str]) -> None:
        self._path = check_folder(Path(path))
        self._setup()

    def _setup(self) -> None:
        # everything the hot paths need, as plain strings
        self._dir = os.fspath(self._path)
        self._names = _keys.folder_names(self._prefix, self._suffix)
        self._width = len(f'{self.shard - 1:x}') if self.shard else 0

    # -- key <-> file ------------------------------------------------------

    def _shard_of(self, key: str) -> str:
        bucket = zlib.crc32(key.encode('utf-8', 'surrogatepass')) % self.shard
        return f'{bucket:0{self._width}x}'

    def _locate(self, key: str) -> tuple[str, bool]:
        """The file of ``key`` as a string, and whether its key is long."""
        name, long = self._names.name_of(key)  # TypeError for non-str
        if self.shard:
            return os.path.join(self._dir, self._shard_of(key), name), long
        return os.path.join(self._dir, name), long

    def assert_path_dir(self) -> None:
        """Make the folder (and its parents) if it is missing.

        Reads never make it and :meth:`dump` makes it when it first writes;
        call this to have it at once (before handing the path to other
        tools, say).
        """
        os.makedirs(self._dir, exist_ok=True)

    def check(self, fix: bool = False, values: bool = False) -> CheckReport:
        """Stale temporary files (removed with ``fix``), names that decode
        to no key, what is not a regular file, files in the wrong shard,
        and with ``values`` the values that can't be read.

        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> s = DirectoryStash(folder)
        >>> s['a'] = 1
        >>> os.mkdir(os.path.join(folder, 'b.dat'))
        >>> print(s.check())                              # doctest: +ELLIPSIS
        DirectoryStash: 1 item, 1 problem
          not a regular file: .../b.dat
        """
        return check_files(self, fix, values)

    def key_to_path(self, name: str) -> Path:
        """The file that holds (or would hold) the item of key ``name``.

        Unlike the original, this makes no folder.
        """
        return Path(self._locate(name)[0])

    # -- reads -------------------------------------------------------------

    def _read(self, key: str) -> Any:
        file, long = self._locate(key)
        try:
            data, large = self._read_head(file)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return MISSING  # a folder is never a key (see keys())
        except ForeignFileError as e:
            return self._unreadable(
                ForeignFileError(e.msg, key=key, path=file), key, file)
        if large is not None:
            return self._read_large(key, file, long, data, large)
        if long:
            payload = _keys.long_key_payload(key, data)
            if payload is None:
                return MISSING
            data = payload
        try:
            return self.serializer.loads(data)
        except Exception as e:
            return self._unreadable(_corrupt(e, key, file), key, file)

    def _read_large(self, key: str, file: str, long: bool, head: bytes,
                    large: FileIO) -> Any:
        """The value in ``large``, the open file of ``key`` whose first
        bytes are ``head``: read by the serializer from the file."""
        with large:
            start = 0
            if long:
                payload = _keys.long_key_payload(key, head)
                if payload is None:
                    return MISSING
                start = len(head) - len(payload)
            try:
                large.seek(start)
                return self.serializer.read(large, self.mmap)
            except Exception as e:
                return self._unreadable(_corrupt(e, key, file), key, file)

    def _unreadable(self, error: PersistableError, key: str, file: str) -> Any:
        """:data:`MISSING` (``on_error='missing'``), else raise ``error``."""
        if self.on_error == 'missing':
            logger.warning('treating unreadable %s (key %r) as missing: '
                           '%s', file, key, error)
            return MISSING
        raise error from error.__cause__

    def _read_head(self, file: str) -> tuple[bytes, Optional[FileIO]]:
        """:func:`~hutch._files.read_head` of a key's ``file``: a regular
        file, reached without following a symbolic link (a shard folder's
        included)."""
        if not self.shard:
            return read_head(file)
        folder, name = os.path.split(file)
        fd = open_folder(folder)
        try:
            return read_head(name, dir_fd=fd)
        finally:
            os.close(fd)

    def load(self, name: str) -> Any:
        value = self._read(name)
        return None if value is MISSING else value

    def lookup(self, name: str) -> Any:
        return self._read(name)

    def get(self, name: str, default: Any = None) -> Any:
        value = self._read(name)
        return default if value is MISSING else value

    def exists(self, name: str) -> bool:
        file, long = self._locate(name)
        if self.shard and os.path.islink(os.path.dirname(file)):
            return False  # a shard folder that is a link is not read
        if long:
            return _keys.read_long_key(file) == name
        return _is_regular(file)

    def keys(self) -> list[str]:
        """Every key, from one ``os.scandir`` of the folder (and its shards).

        Files that don't fit the pattern, temporary files, folders, and
        what :meth:`load` refuses to read (a symbolic link, a FIFO, a
        device) are not keys; :meth:`check` reports the last.
        """
        if not self.shard:
            return self._scan(self._dir, None)
        keys: list[str] = []
        for sub in self._shard_dirs():
            keys.extend(self._scan(sub.path, sub.name))
        return keys

    def _shard_dirs(self) -> Iterator[os.DirEntry[str]]:
        try:
            entries = list(os.scandir(self._dir))
        except FileNotFoundError:
            return
        for entry in entries:
            name = entry.name
            # a shard folder replaced by a link is not ours: never followed
            if len(name) == self._width and \
                    entry.is_dir(follow_symlinks=False) and \
                    all(c in '0123456789abcdef' for c in name) and \
                    int(name, 16) < self.shard:
                yield entry

    def _scan(self, folder: str, shard: Optional[str]) -> list[str]:
        try:
            names = _file_names(folder)
        except FileNotFoundError:
            return []
        keys = self._names.keys_of(names, folder)
        if shard is not None:
            keys = [k for k in keys if self._shard_of(k) == shard]
        return keys

    def __len__(self) -> int:
        return len(self.keys())

    # -- writes ------------------------------------------------------------

    def dump(self, name: str, inst: Any) -> None:
        file, data = self._encode(name, inst)
        self._store(name, file, data)

    def _encode(self, name: str, inst: Any) -> tuple[str, list[Chunk]]:
        """The file of key ``name`` and the chunks of bytes it is to hold;
        nothing is written, so a value that can't be serialized leaves no
        trace.

        :raises SerializeError: naming the key, the file and the serializer
        """
        file, long = self._locate(name)
        try:
            data = self.serializer.encode(inst)
        except Exception as e:
            raise serialize_error(e, inst, self.serializer.name, name,
                                  file) from e
        if long:
            data.insert(0, _keys.pack_long_key(name, b''))
        return file, data

    def _store(self, name: str, file: str, data: list[Chunk]) -> None:
        """Write ``data`` (from :meth:`_encode`) as the file of key ``name``."""
        if self.shard and os.path.islink(os.path.dirname(file)):
            raise ForeignFileError('a symbolic link where a shard folder '
                                   'should be; hutch does not write through '
                                   'it', key=name, path=os.path.dirname(file))
        for attempt in range(_WRITE_ATTEMPTS):
            try:
                atomic_write(file, data, self.durable, key=name)
                return
            except FileNotFoundError:
                # the folder is new -- or a clear() elsewhere just took the
                # (shard) folder or our temporary file away: write again
                if attempt == _WRITE_ATTEMPTS - 1:
                    raise
            try:
                os.makedirs(os.path.dirname(file), exist_ok=True)
            except FileExistsError:
                pass  # makedirs lost a race with clear()'s rmdir: retry

    def delete(self, name: Optional[str] = None) -> None:
        file, long = self._locate(name)  # type: ignore[arg-type]
        if long and _keys.read_long_key(file) != name:
            logger.debug('delete of missing key %r (%s)', name, file)
            return
        try:
            if self.shard:  # never through a shard folder that is a link
                folder, base = os.path.split(file)
                fd = open_folder(folder)
                try:
                    os.unlink(base, dir_fd=fd)
                finally:
                    os.close(fd)
            else:
                os.unlink(file)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            # a folder is not a key, as for load() and keys(): it stays
            logger.debug('delete of missing key %r (%s)', name, file)
        except ForeignFileError as e:
            raise ForeignFileError(e.msg, key=name, path=file) from None

    def clear(self) -> None:
        """Remove every key's file and stale temporary files.

        Files that are not this stash's (other patterns, foreign files) stay;
        shard folders left empty are removed; the folder itself stays.
        """
        if self.shard:
            for sub in list(self._shard_dirs()):
                self._clear_folder(sub.path, sub.name)
                try:
                    os.rmdir(sub.path)
                except OSError as e:
                    if e.errno not in (errno.ENOTEMPTY, errno.EEXIST,
                                       errno.ENOENT):
                        raise
        else:
            self._clear_folder(self._dir, None)

    def _clear_folder(self, folder: str, shard: Optional[str]) -> None:
        for key in self._scan(folder, shard):
            self.delete(key)
        remove_stale_temps(folder, of=lambda file: file.startswith(
            self._prefix) and file.endswith(self._suffix))

    def __repr__(self) -> str:
        return f'{type(self).__name__}({self._dir!r}, pattern={self.pattern!r})'


class IncrementKeyDirectoryStash(DirectoryStash):
    """A folder stash that numbers its items: ``dump(value)`` takes the next key.

    Keys are decimal integers as strings (``'1'``, ``'2'`` ...), in files
    named ``<name>-<key>.dat``.  A key is handed out by creating its file
    exclusively (the value goes to a finished temporary file that is then
    hard-linked under the number; a number whose file exists is skipped),
    so processes dumping into one folder never get the same key -- without a
    lock, whatever host they run on and whatever path (real or through a
    symlink) they reach the folder by.  The first ``dump(value)`` of a stash
    object takes one more than the highest integer key in the folder; later
    ones take the next free number after the last it took (one folder scan
    per object, not per dump, as in the original).

    As in the original, only integer keys are keys of this stash: a value
    stored with ``dump(key, value)`` under another key is written and reads
    back with ``load(key)``, but :meth:`keys`, ``len()`` and iteration leave
    it out and it is never the last key.

    :param path: the folder
    :param name: the file name prefix
    :param kwargs: passed on to :class:`DirectoryStash` (not ``pattern``)

    >>> import tempfile
    >>> s = IncrementKeyDirectoryStash(tempfile.mkdtemp())
    >>> s.dump('first'); s.dump('second'); s.dump('label', 'not counted')
    >>> s.get_last_key(), s.load(), sorted(s.keys()), s.load('label')
    ('2', 'second', ['1', '2'], 'not counted')
    """

    def __init__(self, path: str | os.PathLike[str], name: str = 'data',
                 **kwargs: Any) -> None:
        if not isinstance(name, str):
            raise TypeError(f'name must be a str, got {name!r}')
        if 'pattern' in kwargs:
            raise TypeError('the pattern of IncrementKeyDirectoryStash is '
                            'made from its name')
        super().__init__(path, pattern=name + '-{name}.dat', **kwargs)
        self.name = name
        self._next: Optional[int] = None  # the number to try next

    @staticmethod
    def _is_integer(key: str) -> bool:
        return key.isascii() and key.isdigit()

    def keys(self) -> list[str]:
        """The integer keys (other keys' files are not listed)."""
        return [k for k in super().keys() if self._is_integer(k)]

    def _last(self) -> tuple[int, Optional[str]]:
        """The highest integer key, as a number and as stored."""
        best, best_key = 0, None
        for key in self.keys():
            if int(key) >= best:
                best, best_key = int(key), key
        return best, best_key

    def get_last_key(self, inc: bool = False) -> str:
        """The highest integer key (``'0'`` when there is none).

        :param inc: give the key after it instead (this does not reserve
            it: :meth:`dump` with one argument does that safely)
        """
        last, key = self._last()
        if inc:
            return str(last + 1)
        return str(last) if key is None else key

    def dump(self, name: Any, inst: Any = MISSING) -> None:
        """``dump(value)`` stores under the next key; ``dump(key, value)`` as usual."""
        if inst is not MISSING:
            super().dump(name, inst)
            return
        number = self._next
        if number is None:
            number = self._last()[0] + 1
        # serialized once, before any file is made (numbers are never long
        # keys, so the bytes are the same whichever number is claimed)
        data = self._encode(str(number), name)[1]
        for attempt in range(_WRITE_ATTEMPTS):
            file = self._locate(str(number))[0]
            try:
                with finished_temp(file, data, self.durable,
                                   key=str(number)) as tmp:
                    while True:
                        try:
                            os.link(tmp, file)
                            break
                        except FileExistsError:  # taken by another writer
                            number += 1
                            file = self._locate(str(number))[0]
                self._next = number + 1
                return
            except FileNotFoundError:
                # a new (shard) folder, or clear() took it or our temporary
                if attempt == _WRITE_ATTEMPTS - 1:
                    raise
            except PersistableError:  # no room, said with key and file
                raise
            except OSError as e:  # no permission ...
                raise PersistableError(f'cannot write: {e.strerror}',
                                       key=str(number), path=file) from e
            try:
                os.makedirs(os.path.dirname(file), exist_ok=True)
            except FileExistsError:
                pass  # makedirs lost a race with clear()'s rmdir: retry

    def load(self, name: Optional[str] = None) -> Any:
        """The item under ``name``, or under the last key when ``name`` is ``None``."""
        if name is None:
            name = self._last()[1]
            if name is None:
                return None
        return super().load(name)

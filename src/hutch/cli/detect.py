"""How the ``hutch`` command tells which kind of stash a path holds.

Kinds are told apart by content, not by name:

* a folder is a directory stash; its file name pattern is worked out from
  the names of its files (:mod:`hutch.cli.folders`), and a folder holding
  only shard folders (``00``, ``01`` ...) is sharded (the shard count is
  worked out unless ``--shard`` gives it);
* a file is SQLite when its first 16 bytes are SQLite's header, and a zip
  when it starts with a zip signature;
* a path is a shelf when :func:`dbm.whichdb` recognises it, or it has the
  files of a ``dbm.dumb`` shelf (its index may be missing or damaged), with
  or without the extension its back end added (``.dat``, ``.dir``, ``.db``
  ...).
"""

from __future__ import annotations

import dbm
import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Optional

from ..stash._shelf import backend_of
from .targets import DEFAULT_PATTERN, Options, TargetError

__all__ = ['detect_kind', 'shard_folders', 'shard_names', 'shelf_base',
           'shelf_files_base']

SQLITE_HEADER = b'SQLite format 3\x00'
ZIP_HEADERS = (b'PK\x03\x04', b'PK\x05\x06')
SHELF_SUFFIXES = ('.dat', '.dir', '.bak', '.db', '.pag')


def read_head(path: Path, n: int = 16) -> bytes:
    with open(path, 'rb') as f:
        return f.read(n)


def _pattern_suffix(pattern: str) -> str:
    return pattern.rpartition('{name}')[2]


def shard_folders(path: Path) -> list[str]:
    """The names of the shard folders of a sharded directory stash in the
    local folder ``path``, if it is one (see :func:`shard_names`)."""
    with os.scandir(path) as it:
        entries = [(e.name, e.is_dir()) for e in it]
    return shard_names([n for n, is_dir in entries if not is_dir],
                       [n for n, is_dir in entries if is_dir])


def shard_names(files: Iterable[str], folders: Iterable[str]) -> list[str]:
    """The shard folders among ``folders``, if a folder holding ``files``
    and ``folders`` is a sharded directory stash.

    Shard folders are named by a hex number, all of one width; a folder
    holding anything else (but hidden names) is not sharded.

    >>> shard_names([], ['00', '01', '0a']), shard_names(['x.dat'], ['00'])
    (['00', '01', '0a'], [])
    """
    names = [n for n in folders if not n.startswith('.')]
    if not names or any(not n.startswith('.') for n in files) or \
            len({len(n) for n in names}) != 1 or \
            not all(c in '0123456789abcdef' for n in names for c in n):
        return []
    return sorted(names)


def shelf_base(path: Path) -> Optional[Path]:
    """The name a shelf at ``path`` was opened with, if it is one.

    Named by its base name, a shelf whose index is missing (a lone
    ``.dat``) is still a shelf; named by one of its files, it takes a
    recognised database or an index beside it, since a lone ``x.dat`` is
    more likely one file of a directory stash.
    """
    try:
        if backend_of(path):  # None: no shelf; '': not a dbm file
            return path
        if path.suffix in SHELF_SUFFIXES:
            base = path.with_suffix('')
            if dbm.whichdb(os.fspath(base)) or \
                    os.path.exists(f'{base}.dir'):
                return base
    except OSError:
        pass
    return None


def shelf_files_base(path: Path) -> Optional[Path]:
    """The name of a shelf at ``path`` that :func:`dbm.whichdb` can't
    recognize (its index damaged), judged by the files' names alone."""
    bases = [path]
    if path.suffix in SHELF_SUFFIXES:
        bases.append(path.with_suffix(''))
    for base in bases:
        if any(os.path.isfile(f'{base}{suffix}') for suffix in SHELF_SUFFIXES):
            return base
    return None


def _special(path: Path) -> Optional[str]:
    """What ``path`` is when it is neither a folder nor a regular file."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if stat.S_ISDIR(mode) or stat.S_ISREG(mode):
        return None
    return 'a FIFO' if stat.S_ISFIFO(mode) else \
        'a device' if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else \
        'a socket'


def detect_kind(path: Path, options: Optional[Options] = None) -> str:
    """The kind of stash at ``path`` (one of :data:`KINDS`).

    :raises TargetError: when ``path`` is missing or nothing hutch knows
    """
    options = options or Options()
    special = _special(path)
    if special:  # opening a FIFO would wait for a writer
        raise TargetError(f'{special}, not a stash', path=path)
    if not os.path.lexists(path) and shelf_base(path) is None:
        if shelf_files_base(path) is not None:
            return 'shelve'  # damaged: ShelveStash says what is wrong
        raise TargetError('no such file or folder', path=path)
    if path.is_dir():  # its target works out the pattern (hutch.cli.folders)
        return 'directory'
    if path.is_file():
        try:
            head = read_head(path)
        except OSError as e:
            raise TargetError(f'cannot read: {e.strerror}', path=path) from e
        if head == SQLITE_HEADER:
            return 'sqlite'
        if head.startswith(ZIP_HEADERS):
            return 'zip'
    if shelf_base(path) is not None:
        return 'shelve'
    suffix = _pattern_suffix(options.pattern or DEFAULT_PATTERN)
    if path.is_file() and path.name.endswith(suffix):
        raise TargetError(
            'one file of a directory stash, not a stash: give its folder, '
            f'and the key (e.g. hutch show {path.parent} KEY)', path=path)
    raise TargetError(
        'not a stash hutch knows (a folder of data files, a SQLite file, '
        'a zip or a dbm shelf); give --kind to say which', path=path)

"""A stash inspecting itself: what :meth:`~hutch.Stash.check` reports.

A store that lived through crashes, copies and hand edits may hold things
that are not data: temporary files of writers that were killed, files whose
names decode to no key, a folder or a pipe where a value's file should be,
files of values no key refers to any more, values that no longer
deserialize, a database that fails SQLite's own check.  ``stash.check()``
lists them; ``stash.check(fix=True)`` also removes what is safe to remove
-- stale temporary files, and files no key refers to (orphans) -- never a
key's value: an unreadable value is reported, for a person to decide.

Reading a value may run code (a pickle), so values are read only when asked
(``values=True``); the other checks look at names and file types alone.

>>> import tempfile
>>> from hutch import DirectoryStash
>>> stash = DirectoryStash(tempfile.mkdtemp())
>>> stash['a'] = 1
>>> print(stash.check())
DirectoryStash: 1 item, no problems
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Optional, Protocol

from .._files import is_temp_name
from .._keys import FileNames
from ..errors import PersistableError

__all__ = ['Problem', 'CheckReport', 'STALE_TEMP', 'UNREADABLE',
           'UNDECODABLE_NAME', 'NOT_A_FILE', 'MISPLACED', 'DATABASE',
           'ORPHAN', 'MISSING_FILE', 'BAD_ENTRY']

#: a temporary file left by a writer that is gone (removed by ``fix``)
STALE_TEMP = 'stale temporary file'
#: a value that cannot be read back (reported, never removed)
UNREADABLE = 'unreadable value'
#: a file that fits the stash's pattern but decodes to no key
UNDECODABLE_NAME = 'name decodes to no key'
#: a folder, pipe, device or link where a value's file should be
NOT_A_FILE = 'not a regular file'
#: a key's file in the wrong shard folder, where reads don't look
MISPLACED = 'file in the wrong shard'
#: the store's own consistency check failed
DATABASE = 'database check failed'
#: a file that holds a value no key refers to any more (removed by ``fix``)
ORPHAN = 'file no key refers to'
#: a key whose value's file is gone (reported, never removed)
MISSING_FILE = "value's file missing"
#: an entry of an archive that can't be one of its keys' values
BAD_ENTRY = 'bad archive entry'

#: a temporary file untouched this long belongs to no live writer (a
#: writer in progress keeps its file's modification time fresh)
STALE_AFTER = 600.0


@dataclass(frozen=True)
class Problem:
    """One thing in a store that is not sound data."""

    kind: str
    path: str
    key: Optional[str] = None
    detail: str = ''
    #: whether ``check(fix=True)`` repaired it
    fixed: bool = False

    def __str__(self) -> str:
        key = '' if self.key is None else f' (key {self.key!r})'
        detail = f': {self.detail}' if self.detail else ''
        fixed = ' [fixed]' if self.fixed else ''
        return f'{self.kind}{key}: {self.path}{detail}{fixed}'


@dataclass
class CheckReport:
    """What :meth:`~hutch.Stash.check` found, and what it fixed."""

    #: what was checked (a stash's class name)
    stash: str
    #: the items looked at; ``None`` when they could not be counted
    items: Optional[int] = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether nothing is left to fix."""
        return all(p.fixed for p in self.problems)

    def reported(self) -> set[str]:
        """The keys a problem names: a check reads their values no more."""
        return {p.key for p in self.problems if p.key is not None}

    def __str__(self) -> str:
        items = 'items unknown' if self.items is None else \
            f'{self.items} item' + ('' if self.items == 1 else 's')
        if not self.problems:
            return f'{self.stash}: {items}, no problems'
        lines = [f'{self.stash}: {items}, {len(self.problems)} problem' +
                 ('' if len(self.problems) == 1 else 's')]
        lines.extend(f'  {p}' for p in self.problems)
        return '\n'.join(lines)


class Readable(Protocol):
    """What :func:`check_values` needs of a stash: its keys, and a read of
    each that raises :class:`~hutch.errors.PersistableError` when it fails.
    """

    def keys(self) -> Iterable[str]: ...

    def lookup(self, name: str) -> Any: ...


class FileLayout(Readable, Protocol):
    """What :func:`check_files` needs of a folder of files: where they are,
    how names map to keys, and which shard folder a key belongs in (the
    layout of a :class:`~hutch.DirectoryStash`)."""

    @property
    def shard(self) -> int: ...

    _dir: str
    _prefix: str
    _suffix: str
    _names: FileNames

    def _shard_of(self, key: str) -> str: ...

    def _shard_dirs(self) -> Iterator[os.DirEntry[str]]: ...


def check_values(stash: Readable, report: CheckReport, values: bool) -> None:
    """Count ``stash``'s keys into ``report``; with ``values``, read each
    and report the ones that fail -- all but those a problem already names
    (a value whose file is a FIFO is never opened)."""
    skip = report.reported() if values else set()
    count = 0
    for key in stash.keys():
        count += 1
        if values and key not in skip:
            try:
                stash.lookup(key)
            except PersistableError as e:
                path = getattr(e, 'path', None)
                report.problems.append(Problem(
                    UNREADABLE, '' if path is None else str(path), key,
                    str(e)))
    report.items = (report.items or 0) + count


def check_files(stash: FileLayout, fix: bool,
                 values: bool) -> CheckReport:
    """The check of a folder of files (:class:`~hutch.DirectoryStash`)."""
    report = CheckReport(type(stash).__name__)
    now = time.time()
    for folder, shard in _folders(stash):
        for entry in entries(folder):
            problem = _look_at(stash, entry, shard, now)
            if problem is not None:
                report.problems.append(removed(problem) if fix and
                                       problem.kind == STALE_TEMP else problem)
    check_values(stash, report, values)
    return report


def _folders(stash: FileLayout) -> Iterator[tuple[str, Optional[str]]]:
    if not stash.shard:
        yield stash._dir, None
    else:
        for sub in stash._shard_dirs():
            yield sub.path, sub.name


def entries(folder: str) -> list[os.DirEntry[str]]:
    """What ``folder`` holds, from one scan; nothing when it is gone."""
    try:
        with os.scandir(folder) as listing:
            return list(listing)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _look_at(stash: FileLayout, entry: os.DirEntry[str],
             shard: Optional[str], now: float) -> Optional[Problem]:
    name = entry.name
    info = entry.stat(follow_symlinks=False)
    if is_temp_name(name):
        if in_progress(info, now):
            return None
        return Problem(STALE_TEMP, entry.path)
    prefix, suffix = stash._prefix, stash._suffix
    if not (name.startswith(prefix) and name.endswith(suffix)) or \
            len(name) <= len(prefix) + len(suffix):
        return None  # not the stash's: other files may share the folder
    if not stat.S_ISREG(info.st_mode):
        return Problem(NOT_A_FILE, entry.path)
    core = name[len(prefix):len(name) - len(suffix)]
    key = stash._names.key_of(core, os.path.dirname(entry.path))
    if key is None:
        return Problem(UNDECODABLE_NAME, entry.path)
    if shard is not None and stash._shard_of(key) != shard:
        return Problem(MISPLACED, entry.path, key,
                       f'belongs in {stash._shard_of(key)}')
    return None


def in_progress(info: os.stat_result, now: float) -> bool:
    """Whether a file that is not (yet) data, of status ``info``, may be
    a write in progress: a regular file touched within :data:`STALE_AFTER`
    seconds."""
    return stat.S_ISREG(info.st_mode) and now - info.st_mtime < STALE_AFTER


def removed(problem: Problem) -> Problem:
    """``problem`` fixed by removing its file (or saying why it can't)."""
    try:
        os.unlink(problem.path)
    except FileNotFoundError:
        pass
    except OSError as e:
        return Problem(problem.kind, problem.path, problem.key,
                       f'cannot remove: {e}')
    return Problem(problem.kind, problem.path, problem.key, problem.detail,
                   fixed=True)

"""The check of a :class:`~hutch.stash.zip.ZipStash`: the archive's own
CRCs, and what its directory says of each entry below the stash's root.

A zip archive holds no code, so its entries are read (a chunk at a time,
never whole) to verify their CRCs even without ``values``, as SQLite's
``quick_check`` reads every page; ``values`` also reads each as a value
(its text, when the stash has an encoding).  Found from the directory
alone, and then never read:

* an entry that declares more bytes than the stash's ``read_limit`` (a
  compression bomb, or a crafted size), or whose data would run past the
  end of the file;
* two entries of one name (only the last is read);
* a name holding a NUL byte, which :mod:`zipfile` cuts short there, so
  the key names something else than the entry's name.

The archive is read-only to the stash: ``fix`` changes nothing.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from pathlib import Path
from typing import Optional, Protocol

from .check import (
    BAD_ENTRY,
    UNDECODABLE_NAME,
    UNREADABLE,
    CheckReport,
    Problem,
    Readable,
    check_values,
)

__all__ = ['check_archive']


class Archive(Readable, Protocol):
    """What the check needs of a :class:`~hutch.stash.zip.ZipStash`."""

    @property
    def path(self) -> Path: ...

    @property
    def read_limit(self) -> Optional[int]: ...

    def _archive(self) -> tuple[zipfile.ZipFile, dict[str, zipfile.ZipInfo]]:
        ...

    def _key_of(self, info: zipfile.ZipInfo) -> Optional[str]: ...

_CHUNK = 1 << 20  # bytes read at a time to verify an entry's CRC


def check_archive(stash: Archive, values: bool) -> CheckReport:
    """What :meth:`ZipStash.check <hutch.ZipStash.check>` reports."""
    report = CheckReport(type(stash).__name__)
    archive = stash._archive()[0]
    where = os.fspath(stash.path)
    size = os.path.getsize(where)
    seen: dict[str, int] = {}
    infos = [(key, info) for info in archive.infolist()
             if (key := stash._key_of(info)) is not None]
    for key, _ in infos:
        seen[key] = seen.get(key, 0) + 1
    for key, info in infos:
        detail = _directory_problem(stash, info, size, seen[key])
        if seen[key] > 1:
            seen[key] = 1  # told once of a name's copies
        if detail is not None:
            kind = UNDECODABLE_NAME if '\0' in info.orig_filename \
                else BAD_ENTRY
            report.problems.append(Problem(kind, where, key, detail))
    reported = report.reported()
    for key, info in infos:
        if key not in reported:
            detail = _crc_problem(archive, info)
            if detail is not None:
                report.problems.append(Problem(UNREADABLE, where, key, detail))
    check_values(stash, report, values)
    return report


def _directory_problem(stash: Archive, info: zipfile.ZipInfo, size: int,
                       copies: int) -> Optional[str]:
    """What the archive's directory says is wrong with entry ``info``."""
    if '\0' in info.orig_filename:
        return (f'the name {info.orig_filename!r} holds a NUL byte: the key '
                'is cut short at it')
    if copies > 1:
        return (f'{copies} entries named {info.filename!r}: only the last '
                'is read')
    limit = stash.read_limit
    if limit is not None and info.file_size > limit:
        return (f'it declares {info.file_size:,} bytes, more than '
                f'read_limit ({limit:,}); not read')
    if info.header_offset + info.compress_size > size:
        return (f'its data ({info.compress_size:,} bytes at '
                f'{info.header_offset:,}) would run past the end of the '
                f'file ({size:,} bytes)')
    return None


def _crc_problem(archive: zipfile.ZipFile,
                 info: zipfile.ZipInfo) -> Optional[str]:
    """Why entry ``info`` fails to read back whole (its CRC, most often)."""
    try:
        with archive.open(info) as f:
            while f.read(_CHUNK):
                pass
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError,
            NotImplementedError, RuntimeError) as e:
        return f'cannot read zip entry: {e}'
    return None

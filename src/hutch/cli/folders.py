"""What a folder's file names say about the directory stash in it.

A :class:`~hutch.stash.directory.DirectoryStash` names each file by a
pattern, ``{name}.dat`` unless its writer chose another; the command works
the pattern out from the names, so a folder written with
``pattern='{name}.json.z'`` opens without being told.  The files' common
ending, from its first dot, is the pattern's end:

>>> pattern_of(['a.json.z', 'doc-10.json.z'])
'{name}.json.z'

When the files end differently there is no pattern to take, and the
command asks for one (:class:`NoPattern` says which ending most files
share).  The start of a pattern (``item-{name}.dat``) is not worked out:
keys often share a start of their own (``doc-1``, ``doc-2``).

A folder may also hold a ``dbm.dumb`` shelf (``meta.dat``, ``meta.dir`` and
perhaps ``meta.bak``), as the original stashes kept their metadata.  Its
files are a shelf's, not values: :func:`folder_layout` names the shelf so
that it is never taken for a key and can be opened as what it is.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .._files import is_temp_name
from .detect import shard_folders
from .targets import DEFAULT_PATTERN, TargetError

__all__ = ['FolderLayout', 'NoPattern', 'data_names', 'folder_layout',
           'layout_of', 'pattern_of', 'shard_count']

_SHELF_ENDS = ('.dat', '.dir', '.bak')  # the files of a dbm.dumb shelf


class NoPattern(ValueError):
    """The file names share no ending to take as the pattern."""

    def __init__(self, endings: Counter[str]) -> None:
        self.endings = endings
        common = [e for e, _ in endings.most_common()]
        self.suggested = '{name}' + _escaped(common[0] if common else '')
        shown = ', '.join(f'{e or "no dot"} ({n})'
                          for e, n in endings.most_common(3))
        more = ', ...' if len(endings) > 3 else ''
        super().__init__(f'the files end in different ways ({shown}{more})')


@dataclass(frozen=True)
class FolderLayout:
    """How a folder's data files are named, and the shelves beside them."""

    pattern: str
    #: whether :attr:`pattern` was worked out from the file names
    inferred: bool = False
    #: the names ``dbm.dumb`` shelves in the folder were opened with
    shelves: tuple[str, ...] = ()


def _escaped(text: str) -> str:
    return text.replace('{', '{{').replace('}', '}}')


def _ending(name: str) -> str:
    dot = name.find('.')
    return '' if dot < 0 else name[dot:]


def pattern_of(names: Sequence[str]) -> str:
    """The pattern that names every one of ``names``: ``{name}`` then
    their common ending, from its first dot.

    >>> pattern_of(['k1.pkl', 'v1.2.pkl'])
    '{name}.pkl'
    >>> pattern_of(['a.json', 'b.txt'])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    hutch.cli.folders.NoPattern: the files end in different ways (...)

    :raises NoPattern: when they share no ending that starts with a dot
    """
    tail = os.path.commonprefix([n[::-1] for n in names])[::-1]
    dot = tail.find('.')
    if not names or dot < 0:
        raise NoPattern(Counter(_ending(n) for n in names))
    return '{name}' + _escaped(tail[dot:])


def data_names(names: Iterable[str]) -> list[str]:
    """Those of ``names`` that could hold data: not temporary files, not
    hidden ones (a key never starts a name with a dot).

    >>> data_names(['a.dat', '.hidden', '.b.dat.12.0.hutch-tmp'])
    ['a.dat']
    """
    return [n for n in names if not n.startswith('.') and
            not is_temp_name(n)]


def _files(folder: Path) -> list[str]:
    """The names of the regular files in ``folder`` that could hold data."""
    with os.scandir(folder) as it:
        return data_names(e.name for e in it
                          if e.is_file(follow_symlinks=False))


def _shelves(names: Sequence[str]) -> tuple[str, ...]:
    """The ``dbm.dumb`` shelves among ``names``: a ``.dat`` with its
    ``.dir`` index beside it."""
    present = set(names)
    return tuple(sorted(
        n[:-4] for n in present
        if n.endswith('.dir') and f'{n[:-4]}.dat' in present))


def _matches(name: str, pattern: str) -> bool:
    prefix, _, suffix = pattern.replace('{{', '{').replace(
        '}}', '}').partition('{name}')
    return len(name) > len(prefix) + len(suffix) and \
        name.startswith(prefix) and name.endswith(suffix)


def _advice(error: NoPattern) -> str:
    return f"give the file name pattern, e.g. --pattern '{error.suggested}'"


def _joined(where: str | os.PathLike[str], name: str) -> str:
    return f'{os.fspath(where).rstrip("/")}/{name}'


def folder_layout(path: Path, pattern: Optional[str] = None) -> FolderLayout:
    """The layout of the directory stash in the local folder ``path`` (see
    :func:`layout_of`)."""
    shards = shard_folders(path)
    subfolders = not shards and any(
        p.is_dir() for p in path.iterdir() if not p.name.startswith('.'))
    return layout_of(_files(path), {s: _files(path / s) for s in shards},
                     subfolders, path, pattern)


def layout_of(top: Sequence[str], shards: Mapping[str, Sequence[str]],
              subfolders: bool, where: str | os.PathLike[str],
              pattern: Optional[str] = None) -> FolderLayout:
    """The layout of a directory stash, from the names in its folder: the
    one rule for a local folder and a prefix on object storage.

    >>> layout_of(['a.json', 'b.json'], {}, False, 's3://b/p').pattern
    '{name}.json'

    :param top: the names of the data files right in the folder
        (:func:`data_names`)
    :param shards: for a sharded stash, each shard folder's data file names
    :param subfolders: whether the folder, not sharded, holds folders
    :param where: the folder or URL, for messages
    :param pattern: the pattern the command was given; ``None`` to work it
        out (``{name}.dat`` when any file ends in ``.dat``, or the folder
        holds none yet)
    :raises TargetError: when the folder holds no data files that fit, with
        the option that opens it
    """
    shelves = _shelves(top)
    taken = {f'{s}{end}' for s in shelves for end in _SHELF_ENDS}
    names = [n for n in top if n not in taken]
    for found in shards.values():
        names.extend(found)
    if not names:
        if shelves:
            shown = ', '.join(_joined(where, s) for s in shelves)
            raise TargetError(
                f'a folder holding a dbm shelf, not a directory stash: open '
                f'the shelf with hutch ls {shown}', path=where)
        if not shards and subfolders:
            raise TargetError('a folder of folders with no data files, not a '
                              'directory stash: give one of its folders',
                              path=where)
        return FolderLayout(pattern or DEFAULT_PATTERN, shelves=shelves)
    if pattern is not None:
        if any(_matches(n, pattern) for n in names):
            return FolderLayout(pattern, shelves=shelves)
        try:
            advice = f"its files fit --pattern '{pattern_of(names)}'"
        except NoPattern as e:
            advice = f'{e}; {_advice(e)}'
        raise TargetError(f'no file in this folder is named like {pattern!r}'
                          f' ({advice})', path=where)
    if any(n.endswith('.dat') for n in names):
        return FolderLayout(DEFAULT_PATTERN, shelves=shelves)
    try:
        return FolderLayout(pattern_of(names), inferred=True, shelves=shelves)
    except NoPattern as e:
        raise TargetError(f'no file name pattern to take: {e}; {_advice(e)}',
                          path=where) from None


def shard_count(shards: Mapping[str, Sequence[str]], pattern: str,
                keys_with: Callable[[int], int],
                where: str | os.PathLike[str]) -> int:
    """The shard count a sharded folder was written with.

    A key lives in shard folder ``crc32(key) % count``, so only the right
    count takes every data file for a key: the likely counts are tried.

    :param shards: each shard folder's data file names
    :param keys_with: how many keys the stash lists with a shard count
    :raises TargetError: when no count takes every file
    """
    suffix = pattern.rpartition('{name}')[2]
    files = sum(1 for names in shards.values() for f in names
                if f.endswith(suffix))
    width = len(next(iter(shards)))
    top = 1 << (4 * width)
    low = max(int(n, 16) for n in shards) + 1
    candidates = sorted({top, max(low, 2)} | {
        1 << i for i in range(1, 4 * width + 1) if low <= 1 << i <= top})
    for count in candidates:
        if keys_with(count) == files:
            return count
    raise TargetError('a sharded directory stash whose shard count could '
                      'not be worked out; give --shard N', path=where)

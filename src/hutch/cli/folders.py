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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .._files import is_temp_name
from .detect import shard_folders
from .targets import DEFAULT_PATTERN, TargetError

__all__ = ['FolderLayout', 'NoPattern', 'folder_layout',
           'pattern_of']

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


def _files(folder: Path) -> list[str]:
    """The names of the regular files in ``folder`` that could hold data
    (not temporary files, not hidden ones: a key never starts a name with
    a dot)."""
    with os.scandir(folder) as it:
        return [e.name for e in it if not e.name.startswith('.') and
                not is_temp_name(e.name) and e.is_file(follow_symlinks=False)]


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


def folder_layout(path: Path, pattern: Optional[str] = None) -> FolderLayout:
    """The layout of the directory stash in the folder ``path``.

    :param pattern: the pattern the command was given; ``None`` to work it
        out (``{name}.dat`` when any file ends in ``.dat``, or the folder
        holds none yet)
    :raises TargetError: when the folder holds no data files that fit, with
        the option that opens it
    """
    shards = shard_folders(path)
    top = _files(path)
    shelves = _shelves(top)
    taken = {f'{s}{end}' for s in shelves for end in _SHELF_ENDS}
    names = [n for n in top if n not in taken]
    for shard in shards:
        names.extend(_files(path / shard))
    if not names:
        if shelves:
            where = ', '.join(os.fspath(path / s) for s in shelves)
            raise TargetError(
                f'a folder holding a dbm shelf, not a directory stash: open '
                f'the shelf with hutch ls {where}', path=path)
        if not shards and any(p.is_dir() for p in path.iterdir()
                              if not p.name.startswith('.')):
            raise TargetError('a folder of folders with no data files, not a '
                              'directory stash: give one of its folders',
                              path=path)
        return FolderLayout(pattern or DEFAULT_PATTERN, shelves=shelves)
    if pattern is not None:
        if any(_matches(n, pattern) for n in names):
            return FolderLayout(pattern, shelves=shelves)
        try:
            advice = f"its files fit --pattern '{pattern_of(names)}'"
        except NoPattern as e:
            advice = f'{e}; {_advice(e)}'
        raise TargetError(f'no file in this folder is named like {pattern!r}'
                          f' ({advice})', path=path)
    if any(n.endswith('.dat') for n in names):
        return FolderLayout(DEFAULT_PATTERN, shelves=shelves)
    try:
        return FolderLayout(pattern_of(names), inferred=True, shelves=shelves)
    except NoPattern as e:
        raise TargetError(f'no file name pattern to take: {e}; {_advice(e)}',
                          path=path) from None

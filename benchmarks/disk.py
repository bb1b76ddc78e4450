"""What file system the stores of a run live on, in a few words.

Small writes cost what the file system makes them cost: an ext4 without a
journal makes every new inode skip the inodes freed in the last seconds,
and the ``discard`` mount option makes every freed block wait for the disk.
The benchmark page names the file system so that its figures (and the notes
that explain them) can be read against it.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ['describe']

#: mount options that change what a small write costs
_TOLD = ('discard', 'sync', 'dirsync', 'data=journal', 'nodelalloc',
         'noauto_da_alloc')


def _unescape(field: str) -> str:
    """A field of ``/proc/mounts``, whose blanks are written in octal."""
    for code, char in (('\\040', ' '), ('\\011', '\t'), ('\\012', '\n'),
                       ('\\134', '\\')):
        field = field.replace(code, char)
    return field


def _journal(device: str, sysfs: Path) -> str:
    """', no journal' when ext4's own account of ``device`` says so."""
    try:
        task = (sysfs / os.path.basename(device) / 'journal_task').read_text()
    except OSError:
        return ''
    return ', no journal' if task.strip() == '<none>' else ''


def describe(path: str | os.PathLike[str],
             mounts: str | os.PathLike[str] = '/proc/self/mounts',
             sysfs: str | os.PathLike[str] = '/sys/fs/ext4') -> str:
    """The file system that holds ``path``: its type and device, whether an
    ext4 has a journal, and the mount options that change small writes;
    ``'unknown'`` where the mount table can't be read.

    >>> import tempfile
    >>> table = Path(tempfile.mkdtemp()) / 'mounts'
    >>> _ = table.write_text('/dev/vda / ext4 rw,relatime,discard 0 0\\n'
    ...                      'tmpfs /dev/shm tmpfs rw,nosuid 0 0\\n')
    >>> describe('/dev/shm/x', table), describe('/var/tmp', table, table.parent)
    ('tmpfs', 'ext4 on /dev/vda, mounted with discard')
    """
    target = os.path.realpath(path)
    try:
        with open(mounts) as f:
            lines = f.read().splitlines()
    except OSError:
        return 'unknown'
    best: tuple[str, str, str, str] | None = None
    for line in lines:
        fields = line.split()
        if len(fields) < 4:
            continue
        device, point, kind, options = (_unescape(x) for x in fields[:4])
        inside = target == point or target.startswith(point.rstrip('/') + '/')
        if inside and (best is None or len(point) >= len(best[1])):
            best = (device, point, kind, options)
    if best is None:
        return 'unknown'
    device, _point, kind, options = best
    text = f'{kind} on {device}' if device.startswith('/') else kind
    if kind == 'ext4':
        text += _journal(device, Path(sysfs))
    told = [o for o in options.split(',') if o in _TOLD]
    if told:
        text += ', mounted with ' + ', '.join(told)
    return text

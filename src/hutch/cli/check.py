"""``hutch check``: what is wrong with a stash on disk, from the command line.

The command face of :meth:`hutch.Stash.check` (see :mod:`hutch.stash.check`):
a directory stash reports stale temporary files, names that decode to no
key, what is not a regular file and files in the wrong shard; a SQLite
stash runs SQLite's own ``quick_check`` and looks at the side folder of its
large values (stale temporary files, files no row names, rows whose file
is missing or not a regular file).  ``--values`` also reads every value,
as ``hutch show`` would -- without running code from the stash, so a
pickle is read from its opcodes, never unpickled -- and reports those that
can't be read; a key already reported is not read again.  All are read
with one serializer: the one given, or the one most of the first few values
sniff as (a damaged value may sniff as something else).  ``--fix`` removes
what is safe to remove (stale temporary files, and side files no row
names); values are never removed.  A zip's check verifies every entry's
CRC and what its directory says of each (sizes, names); a shelf's, its
index against its data file.

A kind whose stash had no check of its own would say so: only ``--values``
would find damage in it.  The exit status is 1 while problems remain, 0
when there are none (or ``--fix`` removed them all).
"""

from __future__ import annotations

from collections import Counter
from typing import Optional, TextIO

from ..errors import PersistableError
from ..stash.check import DATABASE, UNREADABLE, CheckReport, Problem
from . import render
from .targets import Target
from .values import TooLarge, read_bytes, read_value

__all__ = ['run_check']


_SNIFFED_KEYS = 8  # how many values the serializer of the rest is told by


def _serializer(target: Target, keys: list[str]) -> Optional[str]:
    """The serializer most of the first few values sniff as: the stash's
    own, which every value must read with (a damaged value may sniff as
    something else); ``None`` when none of them can be read."""
    votes: Counter[str] = Counter()
    for key in sorted(keys)[:_SNIFFED_KEYS]:
        try:
            votes[render.sniff_serializer(
                read_bytes(target, key, render.SNIFF_BYTES))] += 1
        except PersistableError:
            continue
    return votes.most_common(1)[0][0] if votes else None


def _read_values(target: Target, report: CheckReport,
                 serializer: Optional[str]) -> list[str]:
    """Read every value into ``report``'s problems (but those of the keys
    a problem names already: a FIFO where a value's file should be is
    never opened); notes on how."""
    notes = []
    reported = report.reported()
    keys = [key for key in target.keys() if key not in reported]
    if serializer is None and target.serializer_hint is None and keys:
        serializer = _serializer(target, keys)
        if serializer is not None:
            notes.append(f'values read as {serializer} (sniffed; '
                         '--serializer says otherwise)')
    too_large = 0
    for key in keys:
        try:
            read_value(target, key, serializer, hint='')
        except TooLarge:
            too_large += 1
        except PersistableError as e:
            path = '' if e.path is None else str(e.path)
            report.problems.append(Problem(UNREADABLE, path, key, e.msg))
    if too_large:
        notes.append(f'{too_large} value{"" if too_large == 1 else "s"} '
                     'larger than hutch reads, not read')
    return notes


def run_check(target: Target, out: TextIO, fix: bool = False,
              values: bool = False, serializer: Optional[str] = None) -> int:
    """Check ``target``, write what was found to ``out``; the exit status.

    :param fix: remove what is safe to remove
    :param values: read every value (never running code from it)
    :param serializer: how values were written (``None``: sniffed)
    """
    own = target.check(fix=fix)
    report = own if own is not None else CheckReport(
        target.stash_class, len(target.keys()))
    notes = []
    if own is None:
        what = 'its values were read' if values else \
            'nothing was looked at; --values reads every value'
        notes.append(f'a {target.kind} stash has no check of its own: {what}')
    if values and not any(p.kind == DATABASE for p in report.problems):
        notes.extend(_read_values(target, report, serializer))
    out.write(f'{report}\n')
    out.writelines(f'note: {note}\n' for note in notes)
    return 0 if report.ok else 1

"""File name helpers: :class:`FileTextUtil`.

Turning free text (a title, a model's description) into a name a file
system takes without quoting, showing a byte count to people, and naming
output files so that runs by different people at different times don't
collide.  These are names for files you choose; the keys of a stash need
none of this (a stash encodes any key safely).

>>> FileTextUtil.normalize_text('Results: Run #3 (final)')
'results-run-3-final'
>>> FileTextUtil.byte_format(1536)
'1.5KiB'
"""

from __future__ import annotations

import getpass
import os
import re
import string
from datetime import datetime
from pathlib import Path
from typing import ClassVar, Optional

__all__ = ['FileTextUtil']

_PRINTABLE = frozenset(string.printable)
_UNITS = ('', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei', 'Zi')


class FileTextUtil:
    """Helpers to make file names from text (class and static methods)."""

    #: runs of these characters become one ``replace_char`` in
    #: :meth:`normalize_text`: blanks, punctuation and path separators
    _NORMALIZE_REGEX: ClassVar[re.Pattern[str]] = re.compile(
        r"""[ \t\n\\/\[\](){}<>:;_`'"|!@#$%^&*~?,+=.-]+""")

    @classmethod
    def normalize_text(cls, name: str, replace_char: str = '-',
                       lower: bool = True,
                       regex: Optional[re.Pattern[str]] = None,
                       remove_non_printable: bool = False) -> str:
        """``name`` made file system friendly: each run of white space and
        punctuation becomes one ``replace_char``, and one at either end is
        dropped.

        :param name: the text to normalize
        :param replace_char: what replaces each run
        :param lower: lower case the text first
        :param regex: what to replace; :attr:`_NORMALIZE_REGEX` when
            ``None``
        :param remove_non_printable: keep only printable ASCII characters

        >>> FileTextUtil.normalize_text('!--Test middle!@#$%^&*(){} Last!%')
        'test-middle-last'
        >>> FileTextUtil.normalize_text('Model v2.1', '_', lower=False)
        'Model_v2_1'
        """
        if lower:
            name = name.lower()
        name = (cls._NORMALIZE_REGEX if regex is None else regex).sub(
            replace_char, name)
        if len(name) > 1 and replace_char:
            if name.startswith(replace_char):
                name = name[len(replace_char):]
            if len(name) > 1 and name.endswith(replace_char):
                name = name[:-len(replace_char)]
        if remove_non_printable:
            name = ''.join(c for c in name if c in _PRINTABLE)
        return name

    @classmethod
    def normalize_path(cls, path: Path, replace_char: str = '-',
                       lower: bool = True,
                       regex: Optional[re.Pattern[str]] = None,
                       remove_non_printable: bool = False) -> Path:
        """``path`` with :meth:`normalize_text` applied to each part; the
        root and a ``~`` are kept as they are.

        >>> str(FileTextUtil.normalize_path(Path('~/My Data/notes.v1.txt')))
        '~/my-data/notes-v1-txt'
        """
        def part(text: str) -> str:
            if text in (os.sep, '~') or text == path.anchor:
                return text
            return cls.normalize_text(text, replace_char, lower, regex,
                                      remove_non_printable)

        return Path(*(part(p) for p in path.parts))

    @staticmethod
    def byte_format(num: float, suffix: str = 'B') -> str:
        """``num`` bytes for people, in binary units (``KiB``, ``MiB`` ...).

        >>> FileTextUtil.byte_format(10**9)
        '953.7MiB'
        """
        for unit in _UNITS:
            if abs(num) < 1024.0:
                return f'{num:3.1f}{unit}{suffix}'
            num /= 1024.0
        return f'{num:.1f}Yi{suffix}'

    @staticmethod
    def unique_tracked_name(prefix: str, include_user: bool = True,
                            include_time: bool = True,
                            extension: Optional[str] = None) -> str:
        """A lower case file name made of ``prefix``, the user's name and
        the time (to the minute), so that outputs of different people and
        runs stay apart: ``<prefix>-<user>-<Mon><day>-<HHMM>.<extension>``.

        >>> FileTextUtil.unique_tracked_name('Run', False, False, 'log')
        'run.log'
        """
        name = prefix
        if include_user:
            name += f'-{getpass.getuser()}'
        if include_time:
            name += '-' + datetime.now().strftime('%b%d-%H%M')
        if extension is not None:
            name += f'.{extension}'
        return name.lower()

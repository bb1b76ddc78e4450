"""The seed document's example, run in a fresh temporary folder.

``make demo`` runs this.  It shows the method-level persistence half of
hutch: a value computed once, cached on the instance, and saved to a file
that a new instance reads instead of computing again.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from hutch import PersistableContainer, PersistedWork, persisted


def show(expr: str, get: object) -> None:
    """Print ``expr`` as typed at a prompt, then what it gives."""
    print(f'>>> {expr}')
    print(get())  # type: ignore[operator]


def main() -> int:
    class SomeClass(PersistableContainer):
        def __init__(self, n: int) -> None:
            self.n = n
            self._counter = PersistedWork(Path('counter.dat'), self, mkdir=True)

        @property
        @persisted('_counter')
        def count(self) -> int:
            print('returning count value')
            return self.n * 2

        @property
        @persisted('_notsaved')
        def notsaved(self) -> int:
            print('returning unsaved value')
            return self.n * 3

    with tempfile.TemporaryDirectory(prefix='hutch-demo-') as folder:
        os.chdir(folder)
        print(f'working in {folder}')
        inst = SomeClass(5)
        show('inst.count', lambda: inst.count)
        print('folder holds:', sorted(p.name for p in Path('.').iterdir()))
        show('inst.count', lambda: inst.count)
        show('inst.notsaved', lambda: inst.notsaved)
        show('inst.notsaved', lambda: inst.notsaved)
        inst = SomeClass(10)
        print('>>> inst = SomeClass(10)')
        show('inst.count  # read from counter.dat', lambda: inst.count)
        show('inst.notsaved', lambda: inst.notsaved)
        os.chdir('/')
    return 0


if __name__ == '__main__':
    sys.exit(main())

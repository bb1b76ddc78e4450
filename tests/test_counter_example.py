"""The counter example of the README and guide, run as shown in an empty folder.

Each top-level statement runs as at an interactive prompt, so a bare
expression prints its value, as the example's comments describe.
"""

from __future__ import annotations

import ast
import pickle
from pathlib import Path

import pytest

COUNTER_EXAMPLE = '''\
from pathlib import Path
from hutch import PersistableContainer, PersistedWork, persisted

class SomeClass(PersistableContainer):
    def __init__(self, n):
        self.n = n
        self._counter = PersistedWork(Path('counter.dat'), self, mkdir=True)

    @property
    @persisted('_counter')
    def count(self):
        print('returning count value')
        return self.n * 2

    @property
    @persisted('_notsaved')
    def notsaved(self):
        print('returning unsaved value')
        return self.n * 3

inst = SomeClass(5)
inst.count      # prints 'returning count value', 10; the folder now holds counter.dat (and
                # the script) and nothing else
inst.count      # 10, no print
inst.notsaved   # prints 'returning unsaved value', 15
inst = SomeClass(10)
inst.count      # 10, read from counter.dat
inst.notsaved   # prints, 30
'''  # noqa: E501


def run_at_prompt(source: str, after_each: list[list[str]]) -> None:
    """Run ``source`` statement by statement, like the REPL; after each,
    note the folder's contents in ``after_each``."""
    namespace: dict[str, object] = {'__name__': 'counter_example'}
    for stmt in ast.parse(source).body:
        code = compile(ast.Interactive(body=[stmt]), '<counter>', 'single')
        exec(code, namespace)
        after_each.append(sorted(p.name for p in Path('.').iterdir()))


def test_the_counter_example_runs_as_shown_in_an_empty_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    folders: list[list[str]] = []
    run_at_prompt(COUNTER_EXAMPLE, folders)
    assert capsys.readouterr().out.splitlines() == [
        'returning count value',
        '10',
        '10',
        'returning unsaved value',
        '15',
        '10',
        'returning unsaved value',
        '30',
    ]
    # statements: 2 imports, the class, inst = ..., then inst.count
    assert folders[3] == []
    assert folders[4] == ['counter.dat']
    assert [p.name for p in tmp_path.iterdir()] == ['counter.dat']
    assert pickle.loads((tmp_path / 'counter.dat').read_bytes()) == 10

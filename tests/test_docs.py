"""Every Python code block in README.md and docs/*.md runs, as written.

A document's blocks run in order, in one namespace, in a fresh empty
folder, so a later block may use what an earlier one made.  A block with
``>>>`` prompts runs as a doctest (its output must match); any other block
is executed and must not raise.

The blocks run as the body of a module registered in ``sys.modules``, so
what they define pickles by reference.  The imports, classes and functions
they define are also written to that module's file (in a folder of its
own, put on ``sys.path``), so worker processes started by ``spawn`` or
``forkserver`` import them too.
Blocks fenced as ``python``, ``py``, ``python3`` or ``pycon`` all count:
none is skipped.

Blocks fenced as ``console`` show the ``hutch`` command at work: each line
starting with ``$ hutch`` is run (the installed console script, in the same
folder) and what it prints, standard output and error together, must match
the lines that follow it (``...`` matches anything, as in a doctest).
"""

from __future__ import annotations

import ast
import builtins
import doctest
import os
import re
import shlex
import shutil
import subprocess
import sys
import traceback
import types
from pathlib import Path
from typing import Any, Optional

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted([ROOT / 'README.md', *(ROOT / 'docs').glob('*.md')])

_FENCE = re.compile(r'^```[ \t]*(\w*)[^\n]*\n(.*?)^```[ \t]*$',
                    re.MULTILINE | re.DOTALL)
_PYTHON = {'python', 'py', 'python3', 'pycon'}
HUTCH = shutil.which('hutch', path=os.fspath(Path(sys.executable).parent))


def python_blocks(text: str) -> list[tuple[int, str]]:
    """``(line, source)`` of each Python block in a Markdown text."""
    return [(line, source) for line, lang, source in code_blocks(text)
            if lang in _PYTHON]


def code_blocks(text: str) -> list[tuple[int, str, str]]:
    """``(line, language, source)`` of each fenced block in Markdown."""
    return [(text.count('\n', 0, m.start()) + 2, m.group(1).lower(),
             m.group(2)) for m in _FENCE.finditer(text)]


def run_console(doc: Path, line: int, source: str) -> None:
    """Run each ``$ hutch ...`` line; compare what it prints."""
    where = f'{doc.relative_to(ROOT)}, console block at line {line}'
    steps: list[tuple[str, list[str]]] = []
    for text in source.splitlines():
        if text.startswith('$ '):
            steps.append((text[2:], []))
        elif steps:
            steps[-1][1].append(text)
        else:
            pytest.fail(f'{where}: output before any command', pytrace=False)
    checker = doctest.OutputChecker()
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    for command, expected in steps:
        argv = shlex.split(command)
        if argv[0] != 'hutch':
            pytest.fail(f'{where}: only hutch commands run here: {command}',
                        pytrace=False)
        assert HUTCH is not None, 'the hutch console script is not installed'
        done = subprocess.run([HUTCH, *argv[1:]], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True,
                              stdin=subprocess.DEVNULL, timeout=60)
        want = '\n'.join(expected).rstrip('\n') + '\n' if expected else ''
        if not checker.check_output(want, done.stdout, flags):
            pytest.fail(f'{where}: $ {command}\nexpected:\n{want}got:\n'
                        f'{done.stdout}', pytrace=False)


_DEFINITIONS = (ast.Import, ast.ImportFrom, ast.ClassDef, ast.FunctionDef,
                ast.AsyncFunctionDef)


def definitions(source: str, known: Optional[set[str]] = None) -> list[str]:
    """The imports, classes, functions and constants ``source`` defines.

    A class or function whose decorators, bases or defaults use a name that
    is not defined by then (in ``known``, which grows, or as a builtin) is
    left out: it would fail to import in a worker, and what workers run
    never needs it (a memoized function decorated with a stash the block
    made, say).
    """
    known = set() if known is None else known
    if re.search(r'^\s*>>> ', source, re.MULTILINE):
        pieces = [e.source for e in doctest.DocTestParser().get_examples(source)]
    else:
        pieces = [source]
    kept = []
    for piece in pieces:
        for node in ast.parse(piece).body:
            if isinstance(node, _DEFINITIONS) and _uses(node) <= known | \
                    set(dir(builtins)) or (
                    isinstance(node, ast.Assign) and _is_literal(node.value)
                    and all(isinstance(t, ast.Name) for t in node.targets)):
                kept.append(ast.unparse(node))
                known |= _names(node)
    return kept


def _uses(node: ast.stmt) -> set[str]:
    """The names a definition needs when it runs (not when it is called)."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return set()
    parts: list[ast.AST] = list(getattr(node, 'decorator_list', []))
    if isinstance(node, ast.ClassDef):
        # the class body runs when the class is made: its methods'
        # decorators and defaults, and its attributes' values
        parts += node.bases + [k.value for k in node.keywords]
        inner: set[str] = set()
        for stmt in node.body:
            if isinstance(stmt, _DEFINITIONS):
                inner |= _uses(stmt)
            elif isinstance(stmt, (ast.Assign, ast.AnnAssign)) and \
                    stmt.value is not None:
                parts.append(stmt.value)
    else:
        inner = set()
        args = node.args  # type: ignore[attr-defined]
        parts += args.defaults + [d for d in args.kw_defaults if d]
    return inner | {n.id for part in parts for n in ast.walk(part)
                    if isinstance(n, ast.Name)}


def _names(node: ast.stmt) -> set[str]:
    """The names a kept definition binds."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split('.')[0] for a in node.names}
    if isinstance(node, ast.Assign):
        return {t.id for t in node.targets if isinstance(t, ast.Name)}
    return {node.name}  # type: ignore[attr-defined]


def _is_literal(node: ast.expr) -> bool:
    try:
        ast.literal_eval(node)
    except ValueError:
        return False
    return True


class DocModule:
    """The module a document's blocks run in, importable by workers."""

    def __init__(self, name: str, folder: Path,
                 monkeypatch: pytest.MonkeyPatch) -> None:
        self.module = types.ModuleType(name)
        self.file = folder / f'{name}.py'
        self.defined: list[str] = []
        self.known: set[str] = set()
        monkeypatch.setitem(sys.modules, name, self.module)
        monkeypatch.syspath_prepend(os.fspath(folder))

    @property
    def namespace(self) -> dict[str, Any]:
        return self.module.__dict__

    def define(self, source: str) -> None:
        """Add what ``source`` defines to the module's file."""
        self.defined.extend(definitions(source, self.known))
        self.file.write_text('\n\n'.join(self.defined) + '\n',
                             encoding='utf-8')


def run_block(doc: Path, line: int, source: str,
              namespace: dict[str, Any]) -> None:
    where = f'{doc.relative_to(ROOT)}, block at line {line}'
    if re.search(r'^\s*>>> ', source, re.MULTILINE):
        parser = doctest.DocTestParser()
        test = parser.get_doctest(source, namespace, where, str(doc), line - 1)
        test.globs = namespace  # DocTest copies its globals; share them
        report: list[str] = []
        runner = doctest.DocTestRunner(
            optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        runner.run(test, out=report.append, clear_globs=False)
        if runner.failures:
            pytest.fail(f'{where} fails:\n' + ''.join(report), pytrace=False)
        return
    try:
        exec(compile(source, where, 'exec'), namespace)
    except Exception:
        pytest.fail(f'{where} raises:\n{traceback.format_exc()}',
                    pytrace=False)


@pytest.mark.parametrize('doc', DOCS, ids=lambda p: p.name)
def test_every_python_block_runs(doc: Path, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    work, code = tmp_path / 'work', tmp_path / 'code'
    work.mkdir()
    code.mkdir()
    monkeypatch.chdir(work)
    module = DocModule(f'hutch_docs_{doc.stem.lower()}', code, monkeypatch)
    for line, lang, source in code_blocks(doc.read_text(encoding='utf-8')):
        if lang in _PYTHON:
            module.define(source)
            run_block(doc, line, source, module.namespace)
        elif lang == 'console':
            run_console(doc, line, source)


def test_the_docs_hold_code_to_run() -> None:
    counts = {d.name: len(python_blocks(d.read_text(encoding='utf-8')))
              for d in DOCS}
    assert counts.get('README.md', 0) >= 1
    assert counts.get('guide.md', 0) >= 5, counts
    assert counts.get('porting.md', 0) >= 1, counts


def test_a_console_block_must_match_what_hutch_prints(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(pytest.fail.Exception, match='expected'):
        run_console(ROOT / 'README.md', 1, '$ hutch ls nowhere\nnothing\n')
    run_console(ROOT / 'README.md', 1,
                '$ hutch ls nowhere\nhutch: nowhere: no such ...\n')


def test_a_spawned_worker_imports_what_a_block_defines(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import multiprocessing
    module = DocModule('hutch_docs_probe', tmp_path, monkeypatch)
    source = ('>>> import math\n>>> LIMIT = 3\n'
              '>>> def root(n):\n...     return math.isqrt(n) + LIMIT\n'
              '>>> print("not for workers")\nnot for workers\n')
    module.define(source)
    run_block(ROOT / 'README.md', 1, source, module.namespace)
    with multiprocessing.get_context('spawn').Pool(1) as pool:
        assert pool.map(module.namespace['root'], [16]) == [7]


def test_block_extraction_finds_every_python_fence() -> None:
    text = ('# t\n\n```python\na = 1\n```\n\n```sh\nls\n```\n\n'
            '```py\n>>> 1 + 1\n2\n```\n')
    assert python_blocks(text) == [(4, 'a = 1\n'), (12, '>>> 1 + 1\n2\n')]


def test_definitions_that_need_a_blocks_values_stay_out_of_the_file() -> None:
    source = ('>>> import math\n'
              '>>> store = make_store()\n'
              '>>> @keep(store)\n'
              '... def f(x):\n'
              '...     return x\n'
              '>>> class C:\n'
              '...     @keep(store)\n'
              '...     def m(self):\n'
              '...         return 1\n'
              '>>> def g(n=math.pi):\n'
              '...     return n\n')
    kept = definitions(source)
    assert [d.split('\n')[0] for d in kept] == ['import math',
                                                'def g(n=math.pi):']

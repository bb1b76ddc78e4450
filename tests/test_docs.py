"""Every Python code block in README.md and docs/*.md runs, as written.

A document's blocks run in order, in one namespace, in a fresh empty
folder, so a later block may use what an earlier one made.  A block with
``>>>`` prompts runs as a doctest (its output must match); any other block
is executed and must not raise.  The blocks run as a module registered in
``sys.modules``, so classes they define pickle (and reach forked workers).  Blocks fenced as ``python``, ``py``,
``python3`` or ``pycon`` all count: none is skipped.
"""

from __future__ import annotations

import doctest
import re
import sys
import traceback
import types
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted([ROOT / 'README.md', *(ROOT / 'docs').glob('*.md')])

_FENCE = re.compile(r'^```[ \t]*(\w*)[^\n]*\n(.*?)^```[ \t]*$',
                    re.MULTILINE | re.DOTALL)
_PYTHON = {'python', 'py', 'python3', 'pycon'}


def python_blocks(text: str) -> list[tuple[int, str]]:
    """``(line, source)`` of each Python block in a Markdown text."""
    return [(text.count('\n', 0, m.start()) + 2, m.group(2))
            for m in _FENCE.finditer(text) if m.group(1).lower() in _PYTHON]


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
    monkeypatch.chdir(tmp_path)
    # the blocks run as a module of their own, so what they define pickles
    module = types.ModuleType(f'hutch_docs_{doc.stem.lower()}')
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace = module.__dict__
    for line, source in python_blocks(doc.read_text(encoding='utf-8')):
        run_block(doc, line, source, namespace)


def test_the_docs_hold_code_to_run() -> None:
    counts = {d.name: len(python_blocks(d.read_text(encoding='utf-8')))
              for d in DOCS}
    assert counts.get('README.md', 0) >= 1
    assert counts.get('guide.md', 0) >= 5, counts
    assert counts.get('porting.md', 0) >= 1, counts


def test_block_extraction_finds_every_python_fence() -> None:
    text = ('# t\n\n```python\na = 1\n```\n\n```sh\nls\n```\n\n'
            '```py\n>>> 1 + 1\n2\n```\n')
    assert python_blocks(text) == [(4, 'a = 1\n'), (12, '>>> 1 + 1\n2\n')]

"""Scripts that start workers, run as scripts: under ``spawn`` each worker
imports the script again, and what the guide shows keeps that harmless."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from hutch import DirectoryStash

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / 'docs' / 'guide.md'

_BLOCK = re.compile(r'^```python\n(.*?)^```$', re.MULTILINE | re.DOTALL)


def guide_block(marker: str) -> str:
    """The guide's one Python block that holds ``marker``."""
    found = [b for b in _BLOCK.findall(GUIDE.read_text(encoding='utf-8'))
             if marker in b]
    assert len(found) == 1, f'{len(found)} guide blocks hold {marker!r}'
    return found[0]


def run_script(folder: Path, source: str) -> subprocess.CompletedProcess[str]:
    """Run ``source`` as ``python script.py`` in ``folder``."""
    (folder / 'script.py').write_text(source, encoding='utf-8')
    return subprocess.run([sys.executable, 'script.py'], cwd=folder,
                          capture_output=True, text=True, timeout=300)


def build_script() -> str:
    """The guide's build script, with the factory it uses above it."""
    return (guide_block('class WordLengths(') + '\n\n' +
            guide_block("if __name__ == '__main__':\n    build_words("))


def test_the_guides_build_script_builds_every_item_under_spawn(
        tmp_path: Path) -> None:
    done = run_script(tmp_path, build_script())
    assert done.returncode == 0, done.stderr
    data = DirectoryStash(tmp_path / 'data' / 'parallel')
    assert sorted(data.keys()) == [f'word{i:02d}' for i in range(20)]


def test_a_spawned_worker_runs_the_scripts_top_level_again(
        tmp_path: Path) -> None:
    source = build_script().replace(
        "if __name__ == '__main__':",
        "print('top level ran', flush=True)\n\n"
        "if __name__ == '__main__':")
    done = run_script(tmp_path, source)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count('top level ran') >= 2


def test_a_script_that_starts_workers_unguarded_fails_rather_than_hangs(
        tmp_path: Path) -> None:
    source = build_script().replace("if __name__ == '__main__':",
                                    'if True:')
    done = run_script(tmp_path, source)
    assert done.returncode == 1
    assert 'WorkerDiedError' in done.stderr

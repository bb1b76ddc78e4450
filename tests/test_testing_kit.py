"""hutch.testing, used as a user would: pytest run on their own stash.

Each test writes a test module for a stash of its own and runs pytest on it
in a new process, then reads the verdicts.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

# a correct stash of the user's own: a dict behind the four primitives
DICT_STASH = '''
from hutch import Stash
from hutch.testing import StorageContract, WriteContract


class MyStash(Stash):
    def __init__(self):
        self.data = {}

    def load(self, name):
        return self.data.get(name)

    def dump(self, name, inst):
        self.data[name] = inst

    def delete(self, name=None):
        self.data.pop(name, None)

    def keys(self):
        return self.data.keys()
'''


def run_kit(tmp_path: Path, source: str) -> tuple[int, str]:
    """pytest's exit code and report for a test module of ``source``."""
    module = tmp_path / 'test_user_stash.py'
    module.write_text(textwrap.dedent(source))
    done = subprocess.run(
        [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
         '-o', 'addopts=', str(module)],
        capture_output=True, text=True, cwd=tmp_path)
    return done.returncode, done.stdout


def failures(report: str) -> list[str]:
    """``Class::test`` of each failure in a pytest report."""
    return [line.split('::', 1)[1].split(' ')[0]
            for line in report.splitlines() if line.startswith('FAILED ')]


def test_a_correct_stash_passes_every_check(tmp_path: Path) -> None:
    code, report = run_kit(tmp_path, DICT_STASH + '''
class TestMyStash(WriteContract):
    def new_empty(self, tmp_path):
        return MyStash()
''')
    assert code == 0, report
    assert ' passed' in report and not failures(report)


def test_a_stash_that_hides_a_stored_none_fails_the_kit(
        tmp_path: Path) -> None:
    code, report = run_kit(tmp_path, DICT_STASH + '''
class NoneLosingStash(MyStash):
    def keys(self):
        return [k for k, v in self.data.items() if v is not None]


class TestNoneLosingStash(WriteContract):
    def new_empty(self, tmp_path):
        return NoneLosingStash()
''')
    assert code == 1
    assert 'TestNoneLosingStash::test_dumped_none_is_present' in \
        failures(report)


def test_a_bug_shared_by_dump_and_load_is_caught_by_the_storage_checks(
        tmp_path: Path) -> None:
    # dump and load both reverse strings: every round trip looks right,
    # but the storage holds the wrong text
    source = DICT_STASH + '''
def flip(value):
    return value[::-1] if isinstance(value, str) else value


class FlippingStash(MyStash):
    def load(self, name):
        return flip(super().load(name))

    def dump(self, name, inst):
        super().dump(name, flip(inst))


class TestRoundTrips(WriteContract):
    def new_empty(self, tmp_path):
        return FlippingStash()


class TestAgainstStorage(StorageContract):
    def new_empty(self, tmp_path):
        return FlippingStash()

    def write_directly(self, stash, key, value):
        stash.data[key] = value

    def read_directly(self, stash):
        return dict(stash.data)
'''
    code, report = run_kit(tmp_path, source)
    assert code == 1
    failed = failures(report)
    assert failed, report
    assert all(test.startswith('TestAgainstStorage::') for test in failed)

"""Lazy public names: ``import hutch`` loads no back end, every name works."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import hutch

LAZY_PACKAGES = ['hutch', 'hutch.stash', 'hutch.multi']


def _fresh(code: str) -> str:
    """What ``code`` prints in a new interpreter."""
    done = subprocess.run([sys.executable, '-c', code], capture_output=True,
                          text=True, check=True)
    return done.stdout.strip()


def _type_checking_imports(package: str) -> dict[str, tuple[str, ...]]:
    """The ``if TYPE_CHECKING:`` imports of ``package``'s ``__init__``."""
    source = Path(importlib.import_module(package).__file__ or '').read_text()
    found: dict[str, tuple[str, ...]] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.If) and getattr(node.test, 'id', '') == \
                'TYPE_CHECKING':
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom)
                assert all(a.asname == a.name for a in stmt.names), \
                    're-export each name as itself'
                found['.' * stmt.level + (stmt.module or '')] = tuple(
                    a.name for a in stmt.names)
    return found


@pytest.mark.parametrize('package', LAZY_PACKAGES)
def test_what_type_checkers_see_is_what_loads(package: str) -> None:
    exports = importlib.import_module(package)._EXPORTS
    assert _type_checking_imports(package) == {
        module: tuple(sorted(names)) for module, names in exports.items()}


@pytest.mark.parametrize('package', LAZY_PACKAGES)
def test_every_public_name_resolves(package: str) -> None:
    module = importlib.import_module(package)
    for name in module.__all__:
        assert getattr(module, name) is not None, name
    assert set(module.__all__) <= set(dir(module))


def test_import_hutch_loads_no_back_end() -> None:
    heavy = ['multiprocessing', 'concurrent.futures', 'sqlite3', 'dbm',
             'zipfile', 'logging', 'pickle', 'hutch.stash', 'fsspec']
    loaded = _fresh('import sys, hutch\n'
                    f'print([m for m in {heavy!r} if m in sys.modules])')
    assert loaded == '[]'


def test_a_local_folder_stash_loads_no_fsspec() -> None:
    loaded = _fresh('import sys, tempfile\nfrom hutch import DirectoryStash\n'
                    's = DirectoryStash(tempfile.mkdtemp())\n'
                    "s.dump('a', 1); s.load('a'); list(s.keys())\n"
                    "print('fsspec' in sys.modules, 'upath' in sys.modules)")
    assert loaded == 'False False'


def test_a_name_loads_only_its_own_back_end() -> None:
    loaded = _fresh('import sys\nfrom hutch import DictionaryStash\n'
                    "print('sqlite3' in sys.modules, "
                    "'multiprocessing' in sys.modules)")
    assert loaded == 'False False'


def test_importing_a_submodule_does_not_hide_the_name_it_shares() -> None:
    # hutch.persisted is a module and the decorator; hutch.stash.shelve a
    # module and a context manager: the public object wins, whichever
    # import comes first
    out = _fresh('import hutch.persisted, hutch.stash.shelve, hutch.stash\n'
                 'from hutch import persisted\n'
                 'from hutch.stash import shelve\n'
                 'print(type(persisted).__name__, shelve.__name__)')
    assert out == 'type shelve'


def test_a_submodule_is_reached_as_an_attribute() -> None:
    out = _fresh('import hutch\nprint(hutch.serial.__name__, '
                 'hutch.multi.cpu_count() > 0)')
    assert out == 'hutch.serial True'


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="module 'hutch' has no "
                                             "attribute 'no_such_name'"):
        hutch.no_such_name  # noqa: B018


def test_star_import_gives_every_public_name() -> None:
    namespace: dict[str, object] = {}
    exec('from hutch import *', namespace)
    assert set(hutch.__all__) <= set(namespace)

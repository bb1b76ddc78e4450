"""No module of hutch imports itself, directly or through other modules.

The import graph is read from the source with :mod:`ast`, so every import
counts: those at the top, those inside functions (run later, but still a
dependency) and those a type checker alone sees (``if TYPE_CHECKING:``).
Modules in a ring can be neither understood, tested nor loaded one without
the others; the test names the modules of each ring, in import order.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import hutch

SOURCE = Path(hutch.__file__).parent


def module_files(root: Path) -> dict[str, tuple[Path, bool]]:
    """Each module under ``root`` by its dotted name, with its file and
    whether it is a package (an ``__init__.py``)."""
    found = {}
    for path in sorted(root.rglob('*.py')):
        parts = list(path.relative_to(root.parent).with_suffix('').parts)
        package = parts[-1] == '__init__'
        if package:
            parts.pop()
        found['.'.join(parts)] = (path, package)
    return found


def _imported(node: ast.AST, package: str) -> Iterator[tuple[str, str]]:
    """What one import statement names: ``(module, name)`` pairs, relative
    imports resolved against ``package``; ``name`` is '' for ``import m``."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name, ''
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            parts = package.split('.')
            parts = parts[:len(parts) - (node.level - 1)]
            base = '.'.join(parts + ([node.module] if node.module else []))
        else:
            base = node.module or ''
        for alias in node.names:
            yield base, alias.name


def import_graph(root: Path) -> dict[str, set[str]]:
    """The modules each module under ``root`` imports (of those under it).

    ``from p import m`` depends on module ``p.m`` when there is one, else on
    ``p``.  A package's own ``__init__``, run first when one of its modules
    loads, is not counted: a package whose ``__init__`` re-exports its
    modules would otherwise always be a cycle.
    """
    files = module_files(root)
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, (path, package) in files.items():
        here = name if package else name.rpartition('.')[0]
        tree = ast.parse(path.read_text(encoding='utf-8'), filename=str(path))
        for node in ast.walk(tree):
            for module, member in _imported(node, here):
                full = f'{module}.{member}'
                target = full if member and full in files else module
                if target in files and target != name:
                    graph[name].add(target)
    return graph


def import_rings(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each set of modules that import each other in a ring (a strongly
    connected component of the graph), as a path that closes on its first
    module."""
    inner = {m: sorted(graph[m]) for m in sorted(graph)}
    return sorted(_ring(component, inner) for component in _components(inner)
                  if len(component) > 1)


def _components(graph: dict[str, list[str]]) -> list[set[str]]:
    """Tarjan's strongly connected components, without recursion."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(graph[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    result.append(component)
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(graph[child])))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return result


def _ring(component: set[str], graph: dict[str, list[str]]) -> list[str]:
    """A path through ``component`` from its first module back to it."""
    start = min(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for child in graph[node]:
            if child == start:
                return paths[node] + [start]
            if child in component and child not in paths:
                paths[child] = paths[node] + [child]
                queue.append(child)
    raise AssertionError(f'no ring through {sorted(component)}')


def write_modules(root: Path, modules: dict[str, str]) -> None:
    for name, text in modules.items():
        path = root.joinpath(*name.split('.'))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.with_suffix('.py').write_text(text, encoding='utf-8')


def test_no_modules_import_each_other_in_a_ring() -> None:
    rings = import_rings(import_graph(SOURCE))
    assert not rings, 'import cycles: ' + '; '.join(
        ' -> '.join(ring) for ring in rings)


def test_the_graph_sees_imports_in_functions_and_type_checking_blocks(
        tmp_path: Path) -> None:
    write_modules(tmp_path, {
        'pkg.__init__': 'from .a import f\n',
        'pkg.a': 'def f():\n    from . import b\n    return b\n',
        'pkg.b': 'from typing import TYPE_CHECKING\n'
                 'if TYPE_CHECKING:\n    from .sub.c import C\n',
        'pkg.sub.__init__': '',
        'pkg.sub.c': 'from ...pkg import a\nclass C: pass\n',
    })
    graph = import_graph(tmp_path / 'pkg')
    assert graph == {'pkg': {'pkg.a'}, 'pkg.a': {'pkg.b'},
                     'pkg.b': {'pkg.sub.c'}, 'pkg.sub': set(),
                     'pkg.sub.c': {'pkg.a'}}


def test_a_ring_is_named_module_by_module(tmp_path: Path) -> None:
    write_modules(tmp_path, {
        'pkg.__init__': 'from . import a\n',
        'pkg.a': 'from .b import x\n',
        'pkg.b': 'import pkg.c\nx = 1\n',
        'pkg.c': 'def g():\n    from .a import y\n',
        'pkg.d': 'from . import a\n',
    })
    rings = import_rings(import_graph(tmp_path / 'pkg'))
    assert rings == [['pkg.a', 'pkg.b', 'pkg.c', 'pkg.a']]


def test_a_package_importing_its_modules_is_no_ring(tmp_path: Path) -> None:
    write_modules(tmp_path, {
        'pkg.__init__': 'from .a import x\n',
        'pkg.a': 'from . import b\nx = 1\n',
        'pkg.b': 'import os\n',
    })
    assert import_rings(import_graph(tmp_path / 'pkg')) == []


def test_a_module_importing_what_its_package_defines_is_a_ring(
        tmp_path: Path) -> None:
    write_modules(tmp_path, {
        'pkg.__init__': 'from .a import x\ny = 2\n',
        'pkg.a': 'from . import y\nx = 1\n',
    })
    assert import_rings(import_graph(tmp_path / 'pkg')) == [
        ['pkg', 'pkg.a', 'pkg']]

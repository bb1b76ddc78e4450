"""``hutch demo`` run inside a caller's process: it leaves the caller's
working folder and process group alone.

The demonstration runs the counter example in its own folder and kills a
build part-way; both happen in child processes.  An audit hook sees every
``os.chdir``, ``os.kill`` and ``os.killpg`` the caller's process makes.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hutch.cli.demo import run_demo

_WATCHED = ('os.chdir', 'os.kill', 'os.killpg')
_seen: list[tuple[str, tuple[Any, ...]]] = []
_recording = False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _recording and event in _WATCHED:
        _seen.append((event, args))


sys.addaudithook(_audit)  # a hook stays for the process: it records on demand


@pytest.fixture
def audited() -> Iterator[list[tuple[str, tuple[Any, ...]]]]:
    """The watched calls the process makes during the test."""
    global _recording
    _seen.clear()
    _recording = True
    try:
        yield _seen
    finally:
        _recording = False


def test_the_demo_keeps_the_callers_folder_and_process_group(
        tmp_path: Path, audited: list[tuple[str, tuple[Any, ...]]]) -> None:
    here, group = os.getcwd(), os.getpgrp()
    out = io.StringIO()
    assert run_demo(tmp_path / 'demo', items=150, workers=1, out=out) == 0
    assert os.getcwd() == here and os.getpgrp() == group
    assert [args for event, args in audited if event == 'os.chdir'] == []
    kills = [args for event, args in audited if event == 'os.kill']
    assert all(pid not in (os.getpid(), 0, -group) for pid, _ in kills), kills
    groups = [args for event, args in audited if event == 'os.killpg']
    assert all(g not in (group, 0) for g, _ in groups), groups


def test_the_demo_writes_everything_to_the_stream_it_is_given(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    run_demo(tmp_path / 'demo', items=60, workers=1, out=out)
    text = out.getvalue()
    for part in ('== 1.', '== 2.', '== 3.', '== 4.', 'returning count value',
                 "['counter.dat']", '$ hutch info', 'kind        directory'):
        assert part in text, text
    assert capfd.readouterr().out == ''

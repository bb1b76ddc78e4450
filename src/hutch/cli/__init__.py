"""The ``hutch`` command (``hutch ls|show|info|check|rm|clear|demo``).

Run ``hutch --help``, or ``python -m hutch --help``.
"""

from .main import main

__all__ = ['main']

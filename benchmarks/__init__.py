"""hutch's benchmark suite: hutch side by side with its peers, and growth.

Not part of the test run.  ``make bench`` runs the full suite,
``make bench-quick`` a reduced one; both write ``docs/benchmarks.md``, its
chart and the raw results as JSON.  One module per area (``persisted``,
``memory``, ``directory``, ``sqlite``, ``shelve``, ``multiprocess``), the
timing in :mod:`benchmarks.harness`, the targets in :mod:`benchmarks.targets`.
"""

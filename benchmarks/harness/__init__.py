"""What the benchmarks share: one station launcher and the helpers around it.

- ``station``: ``python -m riffcast serve`` in a subprocess on 127.0.0.1 (``Station``);
- ``endpoints``: ``/healthz`` and ``/metrics`` fetched and read;
- ``procfs``: CPU time, resident memory, descriptors, threads, TCP sockets from ``/proc`` (Linux);
- ``machine``: the machine's description and the open-files limit;
- ``stats``: percentiles and slopes;
- ``table``: Markdown table lines and ratios.

Benchmarks run as scripts (``python benchmarks/soak.py``), so ``benchmarks/`` is on ``sys.path``
and they import ``from harness.station import Station``; the tests import the same modules as
``benchmarks.harness`` (``tests/conftest.py`` puts the repository root on ``sys.path``).
"""

"""Benchmarks: a low-overhead HTTP load generator, the server-under-test harness, and the
benchmark scripts built on them (run them from the repository root as
``python -m bench.<name> --help``)."""

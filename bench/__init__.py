"""Benchmarks: a low-overhead HTTP load generator, the server-under-test harness, and the
benchmark scripts built on them (run them as ``python bench/<name>.py --help``)."""

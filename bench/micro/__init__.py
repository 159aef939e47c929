"""pytest-benchmark micro benchmarks of the cryptographic core (`make bench`)."""

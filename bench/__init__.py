"""Benchmarks run by ``govex bench``: each figure beside its limit or peer, same run."""

"""Throughput and memory benchmark of the warm-archive table job against the usual alternatives.

Entry point: ``bench/run`` (see ``bench/README.md``). Every contender runs in its own process so its
peak RSS can be measured; every run is checked before it counts.
"""

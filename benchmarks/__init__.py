"""Benchmarks: task sets (benchmarks/tasks) and scripts that print JSON lines."""

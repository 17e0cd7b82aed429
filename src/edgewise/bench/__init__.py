"""Benchmarks: published corpora, their scoring rules and the published reference results."""

"""Reliability tests: print how many fuzzed messages this run generated (asserted in the fuzz files)."""

from __future__ import annotations

import sys


def pytest_terminal_summary(terminalreporter) -> None:
    strategies = sys.modules.get("fuzz_strategies")
    if strategies is not None and strategies.GENERATED:
        counts = dict(sorted(strategies.GENERATED.items()))
        terminalreporter.write_line(f"fuzz: {sum(counts.values())} generated messages this run {counts}")
        rejected = dict(sorted(strategies.REJECTED.items()))
        if rejected:
            terminalreporter.write_line(f"fuzz: {sum(rejected.values())} of the conversion fuzz's messages rejected "
                                        f"as malformed {rejected}")

"""``make bench``: the cache's speed against the manual recipe, measured side by side; writes BENCH.md."""

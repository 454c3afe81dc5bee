"""Hypothesis strategies for the keys that appear in a Nix binary cache bucket."""

from __future__ import annotations

from hypothesis import strategies as st

from components.expiry import NIX_BASE32

store_hash = st.text(alphabet=NIX_BASE32, min_size=32, max_size=32)
nar_hash = st.text(alphabet=NIX_BASE32, min_size=52, max_size=52)
nar_extension = st.sampled_from(["nar", "nar.xz", "nar.zst", "nar.bz2", "nar.br", "nar.gz"])

narinfo_key = store_hash.map(lambda h: f"{h}.narinfo")
listing_key = store_hash.map(lambda h: f"{h}.ls")
nar_key = st.builds(lambda h, ext: f"nar/{h}.{ext}", nar_hash, nar_extension)

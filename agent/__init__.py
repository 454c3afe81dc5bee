"""The upload agent that runs on the builder; ``nix_cache_agent`` is the one file ``builderModule`` embeds."""

"""``python -m agent``: the agent from this repository's venv, on a builder that is not NixOS."""

import sys

from agent.nix_cache_agent import main

sys.exit(main())

"""Entry point: validate the stack's config, build one cache, export what the user pastes into Nix."""

from __future__ import annotations

import pulumi

from components.cache import NixBinaryCache, NixBinaryCacheArgs
from components.config import ConfigError, load_config

try:
    config = load_config()
except ConfigError as error:
    # RunError ends the program with just this message, before any resource is registered.
    raise pulumi.RunError(str(error)) from None

cache = NixBinaryCache("nix-cache", NixBinaryCacheArgs(config=config))
for output_name, value in cache.outputs.items():
    pulumi.export(output_name, value)

"""The cache's SigningKey component alone, for the real Pulumi engine.

``components`` is a symlink to the project's own package, so this program (and the dynamic provider the
engine starts for the key) imports it from the working directory exactly as the main program does.
"""

from __future__ import annotations

import pulumi

from components.signing_key import SigningKey, SigningKeyArgs

key = SigningKey(
    "nix-cache-signing-key",
    SigningKeyArgs(key_name=pulumi.Config("nix-cache").require("keyName"), imported=None),
)
pulumi.export("publicKey", key.public_key)
pulumi.export("secretKey", key.secret_key)

"""A Nix binary cache on MinIO, as Pulumi components over pure, unit-tested functions."""

"""``NixBinaryCache``: the whole cache from one validated config, and what the user pastes into Nix."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.bucket import CacheBucket, CacheBucketArgs
from components.config import CacheConfig
from components.nix_text import (
    aws_credentials,
    nix_cache_info,
    nix_conf,
    nixos_module,
    push_command,
    s3_store_url,
    sign_command,
)
from components.served_check import ServedCheck, ServedCheckArgs
from components.signing_key import SigningKey, SigningKeyArgs
from components.writer import CacheWriter, CacheWriterArgs


@dataclass(frozen=True)
class NixBinaryCacheArgs:
    config: CacheConfig


class NixBinaryCache(pulumi.ComponentResource):
    store: CacheBucket
    writer: CacheWriter
    signing_key: SigningKey
    served_check: ServedCheck | None
    outputs: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: NixBinaryCacheArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("nix-cache:index:NixBinaryCache", name, None, opts)
        config = args.config
        cache_info = nix_cache_info(config.store_dir, config.want_mass_query, config.priority)
        self.store = CacheBucket(
            f"{name}-store",
            CacheBucketArgs(
                bucket=config.bucket,
                protect=config.protect,
                expire_days=config.expire_days,
                cache_info=cache_info,
                adopt=config.adopt,
            ),
            pulumi.ResourceOptions(parent=self),
        )
        self.writer = CacheWriter(
            f"{name}-writer",
            CacheWriterArgs(
                user_name=config.writer,
                bucket=config.bucket,
                policy_name=f"{config.bucket}-write",
                adopt=config.adopt,
            ),
            pulumi.ResourceOptions(parent=self, depends_on=[self.store.bucket]),
        )
        self.signing_key = SigningKey(
            f"{name}-signing-key",
            SigningKeyArgs(key_name=config.key_name, imported=config.signing_key),
            pulumi.ResourceOptions(parent=self),
        )
        self.served_check = (
            ServedCheck(
                f"{name}-served-check",
                ServedCheckArgs(
                    public_url=config.public_url,
                    expected_cache_info=cache_info,
                    cacert_file=config.minio.cacert_file,
                    insecure=config.minio.insecure,
                ),
                pulumi.ResourceOptions(parent=self, depends_on=[self.store]),
            )
            if config.verify
            else None
        )
        self.outputs = self._outputs(config)
        self.register_outputs(self.outputs)

    def _outputs(self, config: CacheConfig) -> dict[str, pulumi.Output[str]]:
        public_key = self.signing_key.public_key
        store_url = s3_store_url(config.bucket, config.writer, config.minio.server, config.minio.use_ssl)
        credentials = pulumi.Output.all(self.writer.access_key, self.writer.secret_key).apply(
            lambda keys: aws_credentials(config.writer, keys[0], keys[1])
        )
        return {
            "substituterUrl": pulumi.Output.from_input(config.public_url),
            "publicKey": public_key,
            "keyName": pulumi.Output.from_input(config.key_name),
            "bucketName": self.store.bucket.bucket,
            "writerAccessKey": self.writer.access_key,
            "secretKey": self.signing_key.secret_key,
            "writerSecretKey": self.writer.secret_key,
            "awsCredentials": pulumi.Output.secret(credentials),
            "nixosModule": public_key.apply(lambda key: nixos_module(config.public_url, key)),
            "nixConf": public_key.apply(lambda key: nix_conf(config.public_url, key)),
            "signCommand": pulumi.Output.from_input(sign_command(config.key_name)),
            "pushCommand": pulumi.Output.from_input(push_command(store_url)),
        }

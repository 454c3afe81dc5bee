"""``NixBinaryCache``: the whole cache from one validated config, and what the user pastes into Nix."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi

from components.access import CacheAccess, CacheAccessArgs
from components.bucket import CacheBucket, CacheBucketArgs
from components.builder_module import builder_module
from components.config import CacheConfig
from components.nix_text import (
    AgentTarget,
    aws_credentials,
    nix_cache_info,
    nix_conf,
    nixos_module,
    push_command,
    resign_command,
    s3_substituter_url,
    sign_command,
)
from components.policies import reader_policy, writer_policy
from components.served_check import ServedCheck, ServedCheckArgs
from components.signing_key import SigningKey, SigningKeyArgs
from providers.served_check import ReaderAccess


@dataclass(frozen=True)
class NixBinaryCacheArgs:
    config: CacheConfig


class NixBinaryCache(pulumi.ComponentResource):
    store: CacheBucket
    writers: CacheAccess
    readers: CacheAccess | None
    signing_key: SigningKey
    served_check: ServedCheck | None
    outputs: dict[str, pulumi.Output[Any]]

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
                public=config.public,
            ),
            pulumi.ResourceOptions(parent=self),
        )
        after_bucket = pulumi.ResourceOptions(parent=self, depends_on=[self.store.bucket])
        self.writers = CacheAccess(
            f"{name}-writers",
            CacheAccessArgs(
                bucket=config.bucket,
                policy_name=f"{config.bucket}-write",
                policy=writer_policy(config.bucket),
                user_names=config.writers,
                adopt=config.adopt,
            ),
            after_bucket,
        )
        self.readers = (
            None
            if config.public
            else CacheAccess(
                f"{name}-readers",
                CacheAccessArgs(
                    bucket=config.bucket,
                    policy_name=f"{config.bucket}-read",
                    policy=reader_policy(config.bucket),
                    user_names=(config.reader,),
                    adopt=config.adopt,
                ),
                after_bucket,
            )
        )
        self.signing_key = SigningKey(
            f"{name}-signing-key",
            SigningKeyArgs(key_name=config.key_name, imported=config.signing_key, retired=config.retire_keys),
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
                    reader=self._reader_access(config),
                ),
                pulumi.ResourceOptions(
                    parent=self, depends_on=[self.store, *([self.readers] if self.readers else [])]
                ),
            )
            if config.verify
            else None
        )
        self.outputs = {
            **self._key_outputs(config),
            **self._writer_outputs(config),
            **self._reader_outputs(config),
        }
        self.register_outputs(self.outputs)

    def _reader_access(self, config: CacheConfig) -> ReaderAccess | None:
        if self.readers is None:
            return None
        return ReaderAccess(
            access_key=self.readers.access_keys[config.reader],
            secret_key=self.readers.secret_keys[config.reader],
            server=config.minio.server,
            bucket=config.bucket,
            use_ssl=config.minio.use_ssl,
        )

    def substituter_url(self, config: CacheConfig) -> str:
        """Public: the HTTP(S) URL anyone reads; private: the s3:// URL read with the reader's profile."""
        if config.public:
            return config.public_url
        return s3_substituter_url(config.bucket, config.reader, config.minio.server, config.minio.use_ssl)

    def _key_outputs(self, config: CacheConfig) -> dict[str, pulumi.Output[Any]]:
        url = self.substituter_url(config)
        trusted = self.signing_key.trusted_public_keys
        return {
            "substituterUrl": pulumi.Output.from_input(url),
            "publicKey": self.signing_key.public_key,
            "trustedPublicKeys": trusted,
            "keyName": pulumi.Output.from_input(config.key_name),
            "bucketName": self.store.bucket.bucket,
            "secretKey": self.signing_key.secret_key,
            "nixosModule": trusted.apply(lambda keys: nixos_module(url, keys)),
            "nixConf": trusted.apply(lambda keys: nix_conf(url, keys)),
            "signCommand": pulumi.Output.from_input(sign_command(config.key_name)),
        }

    def _writer_outputs(self, config: CacheConfig) -> dict[str, pulumi.Output[Any]]:
        """One builder: plain values, as the README shows them; several: maps keyed by builder name."""
        access, secrets = self.writers.access_keys, self.writers.secret_keys

        def target(writer: str) -> AgentTarget:
            return AgentTarget(
                endpoint=config.minio.endpoint_url,
                bucket=config.bucket,
                profile=writer,
                expire_days=config.expire_days,
                upstream_keys=config.upstream_keys,
                key_name=config.key_name,
            )

        def credentials(writer: str) -> pulumi.Output[str]:
            return pulumi.Output.all(access[writer], secrets[writer]).apply(
                lambda keys: aws_credentials(writer, keys[0], keys[1])
            )

        per_writer: dict[str, Callable[[str], pulumi.Output[Any]]] = {
            "writerAccessKey": lambda w: access[w],
            "writerSecretKey": lambda w: secrets[w],
            "awsCredentials": lambda w: pulumi.Output.secret(credentials(w)),
            "pushCommand": lambda w: pulumi.Output.from_input(push_command(target(w))),
            "resignCommand": lambda w: pulumi.Output.from_input(resign_command(target(w))),
            "builderModule": lambda w: pulumi.Output.from_input(builder_module(target(w))),
        }
        if len(config.writers) == 1:
            return {output: make(config.writer) for output, make in per_writer.items()}
        return {
            output: pulumi.Output.all(**{w: make(w) for w in config.writers})
            for output, make in per_writer.items()
        }

    def _reader_outputs(self, config: CacheConfig) -> dict[str, pulumi.Output[Any]]:
        if self.readers is None:
            return {}
        reader = config.reader
        access, secret = self.readers.access_keys[reader], self.readers.secret_keys[reader]
        credentials = pulumi.Output.all(access, secret).apply(lambda keys: aws_credentials(reader, *keys))
        return {
            "readerAccessKey": access,
            "readerSecretKey": secret,
            "readerAwsCredentials": pulumi.Output.secret(credentials),
        }

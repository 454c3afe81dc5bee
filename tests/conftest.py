"""Shared fixtures: Pulumi mocks that record every registered resource."""

from __future__ import annotations

from collections.abc import Awaitable, Iterator
from typing import Any

import pulumi
import pytest

from components.cache import NixBinaryCache, NixBinaryCacheArgs
from components.config import load_config
from components.nix_keys import generate_key_pair
from providers.trusted_keys import trusted_keys

#: The signing key's dynamic resource, and the MinIO and HTTP resources of this project's providers.
DYNAMIC = "pulumi-python:dynamic:Resource"
BUCKET = "pulumi-python:dynamic/minio:Bucket"
BUCKET_POLICY = "pulumi-python:dynamic/minio:BucketPolicy"
LIFECYCLE = "pulumi-python:dynamic/minio:Lifecycle"
BUCKET_OBJECT = "pulumi-python:dynamic/minio:BucketObject"
USER = "pulumi-python:dynamic/minio:User"
IAM_POLICY = "pulumi-python:dynamic/minio:IamPolicy"
ATTACHMENT = "pulumi-python:dynamic/minio:PolicyAttachment"
SERVED_CHECK = "pulumi-python:dynamic/http:ServedCheck"
TRUSTED_KEYS = "pulumi-python:dynamic/nix:TrustedKeys"


class RecordingMocks(pulumi.runtime.Mocks):
    """Answers like the providers would, and remembers what the program asked for."""

    def __init__(self) -> None:
        self.registered: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.registered.append(args)
        outputs = dict(args.inputs)
        if args.typ == USER:
            outputs["secret"] = "writer-secret-from-provider"
        elif args.typ == TRUSTED_KEYS:
            outputs["keys"] = trusted_keys(args.inputs["current"], [], args.inputs["retired"])
        elif args.typ == DYNAMIC:
            pair = generate_key_pair(args.inputs["key_name"])
            outputs.update(public_key=pair.public_key, secret_key=pair.secret_key)
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        return {}, []

    def of_type(self, typ: str) -> list[pulumi.runtime.MockResourceArgs]:
        return [r for r in self.registered if r.typ == typ]

    def one(self, typ: str) -> pulumi.runtime.MockResourceArgs:
        [resource] = self.of_type(typ)
        return resource


BASE_CONFIG = {
    "minio:minioServer": "127.0.0.1:9000",
    "minio:minioUser": "admin",
    "minio:minioPassword": "correct-horse",
}


@pytest.fixture
def mocks() -> Iterator[RecordingMocks]:
    """Fresh mocks and the base config for every test; the runtime is reset afterwards."""
    recording = RecordingMocks()
    pulumi.runtime.set_mocks(recording, project="nix-cache", stack="test", preview=False)
    pulumi.runtime.set_all_config(BASE_CONFIG, ["minio:minioPassword"])
    yield recording
    pulumi.runtime.set_all_config({}, [])


class Registration:
    """What the program asked for a resource, options included (mocks alone do not see options)."""

    def __init__(self, args: pulumi.ResourceTransformationArgs) -> None:
        self.type = args.type_
        self.name = args.name
        self.parent_type = args.opts.parent.pulumi_resource_type if args.opts.parent else None
        self.protect = bool(args.opts.protect)
        self.delete_before_replace = bool(args.opts.delete_before_replace)
        depends_on: Any = args.opts.depends_on or []
        self.depends_on_types = [
            d.pulumi_resource_type for d in (depends_on if isinstance(depends_on, list) else [depends_on])
        ]


@pytest.fixture
def registrations(mocks: RecordingMocks) -> list[Registration]:
    """Every resource the program registers, with its parent's type and protect flag."""
    recorded: list[Registration] = []

    def record(args: pulumi.ResourceTransformationArgs) -> None:
        recorded.append(Registration(args))

    pulumi.runtime.register_stack_transformation(record)
    return recorded


def _secret_flag(output: pulumi.Output[str]) -> pulumi.Output[bool]:
    flag: Awaitable[bool] = output.is_secret()
    return pulumi.Output.from_input(flag)


def deploy(config: dict[str, str] | None = None, secret_keys: tuple[str, ...] = ()) -> dict[str, Any]:
    """Run the cache under mocks to completion; return its resolved outputs and which are secret."""
    pulumi.runtime.set_all_config({**BASE_CONFIG, **(config or {})}, ["minio:minioPassword", *secret_keys])
    result: dict[str, Any] = {}

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def program() -> pulumi.Output[None]:
        cache = NixBinaryCache("nix-cache", NixBinaryCacheArgs(config=load_config()))
        names = list(cache.outputs)
        values = pulumi.Output.all(*cache.outputs.values())
        secrets = pulumi.Output.all(*(_secret_flag(output) for output in cache.outputs.values()))
        return pulumi.Output.all(values, secrets).apply(
            lambda both: result.update(
                values=dict(zip(names, both[0], strict=True)),
                secret=dict(zip(names, both[1], strict=True)),
            )
        )

    program()
    return result

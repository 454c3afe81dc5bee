"""Which MinIO users and policies a stack made, written on its bucket's tags before they are made.

MinIO users and policies carry no tags, yet ``create`` must tell "made by this stack, but the state was
not saved" (an interrupted ``up``: take it) from "made by hand" (refuse, unless adopting). So a stack
claims a name on the bucket's tags *before* it makes the user or policy, and removes the claim after
deleting it. The bucket itself is marked with the owning stack the same way.
"""

from __future__ import annotations

from providers import sdk
from providers.bucket_lock import bucket_settings_lock
from providers.errors import ProviderError

STACK_TAG = "nix-cache/stack"
#: Which create made the bucket now (see ``providers.bucket``); a replacement writes a new one.
GENERATION_TAG = "nix-cache/generation"
#: MinIO, like S3, keeps at most this many tags on a bucket.
MAX_TAGS = 50


def claim_tag(kind: str, name: str) -> str:
    return f"nix-cache/{kind}/{name}"


def read_tags(s3: sdk.Minio, bucket: str) -> dict[str, str]:
    return dict(s3.get_bucket_tags(bucket) or {})


def _write_tags(s3: sdk.Minio, bucket: str, tags: dict[str, str]) -> None:
    if tags:
        new = sdk.Tags.new_bucket_tags()
        new.update(tags)
        s3.set_bucket_tags(bucket, new)
    else:
        s3.delete_bucket_tags(bucket)


def update_tags(s3: sdk.Minio, bucket: str, set_: dict[str, str], remove: tuple[str, ...] = ()) -> None:
    """Read-modify-write the bucket's tags, one writer of the bucket's settings at a time."""
    with bucket_settings_lock(bucket):
        tags = read_tags(s3, bucket)
        updated = {k: v for k, v in {**tags, **set_}.items() if k not in remove}
        if len(updated) > MAX_TAGS:
            raise ProviderError(
                f"bucket {bucket!r} would need {len(updated)} tags for this stack's claims and marks, and "
                f"MinIO keeps at most {MAX_TAGS}: remove tags of your own from it, or use fewer writers"
            )
        if updated != tags:
            _write_tags(s3, bucket, updated)


def bucket_owner(s3: sdk.Minio, bucket: str) -> str | None:
    return read_tags(s3, bucket).get(STACK_TAG)


def claimed_by(s3: sdk.Minio, bucket: str, kind: str, name: str) -> str | None:
    """The stack that claimed ``kind``/``name`` on ``bucket``, if any (``None`` when no bucket either)."""
    if not s3.bucket_exists(bucket):
        return None
    return read_tags(s3, bucket).get(claim_tag(kind, name))


def claim(s3: sdk.Minio, bucket: str, kind: str, name: str, owner: str) -> None:
    update_tags(s3, bucket, {claim_tag(kind, name): owner})


def release(s3: sdk.Minio, bucket: str, kind: str, name: str) -> None:
    if s3.bucket_exists(bucket):
        update_tags(s3, bucket, {}, remove=(claim_tag(kind, name),))


def stack_owner() -> str:
    """This stack's name for its claims: ``organization/project/stack``. Called in the program."""
    import pulumi  # the program's runtime; the provider process never calls this

    return f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}"


def taken_message(kind: str, name: str, endpoint: str) -> str:
    """Why a create stops at something that exists and was not made by this stack, and the way out."""
    return (
        f"{kind} {name!r} already exists in MinIO at {endpoint} and was not made by this stack. "
        "To take over a cache made by hand (every object is kept; the program's policies, lifecycle and "
        "nix-cache-info replace the hand-made ones; the writer gets a new secret), run "
        "`pulumi config set nix-cache:adopt true` and `pulumi up` again; or choose another name."
    )

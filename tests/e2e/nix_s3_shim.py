"""``nix`` with an S3 store, for a Nix that has none (Debian's nix-bin): the post-build hook's test.

Run as ``nix`` (``install_shim`` writes the wrapper). Every command goes to the real Nix unchanged,
except ``copy --to s3://…``, which is done the way Nix's S3 store does it: the credentials come from
the ``profile`` in ``$AWS_SHARED_CREDENTIALS_FILE`` (else ``~/.aws/credentials``), as aws-sdk-cpp reads
them; the real ``nix copy`` writes the NARs and narinfos, with the URL's other settings (compression…),
to a ``file://`` store; and they are uploaded to ``endpoint``/``bucket`` over ``scheme``, NARs first and
narinfos last (``tests/e2e/s3.upload_file_cache``). What is not exercised is only aws-sdk-cpp's HTTP.
"""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from tests.e2e import s3

ROOT = Path(__file__).resolve().parents[2]
#: Settings of Nix's S3 store that only the S3 client reads; every other one goes to the file:// store.
S3_ONLY = {"profile", "endpoint", "scheme", "region", "multipart-upload", "buffer-size"}


def install_shim(directory: Path, real_nix: str) -> Path:
    """``directory/bin/nix`` running this module beside the real ``nix-store``: a stand-in package."""
    binary = directory / "bin" / "nix"
    binary.parent.mkdir(parents=True, exist_ok=True)
    binary.write_text(
        "#!/bin/sh\n"
        f"NIX_S3_SHIM_REAL_NIX='{real_nix}' PYTHONPATH='{ROOT}' "
        f"exec '{sys.executable}' -m tests.e2e.nix_s3_shim \"$@\"\n"
    )
    binary.chmod(0o755)
    (directory / "bin" / "nix-store").symlink_to(Path(real_nix).with_name("nix-store"))
    return directory


def credentials(profile: str) -> tuple[str, str]:
    path = Path(os.environ.get("AWS_SHARED_CREDENTIALS_FILE") or Path.home() / ".aws" / "credentials")
    parser = configparser.ConfigParser()
    parser.read(path)
    if not parser.has_section(profile):
        raise SystemExit(f"error: no credentials for profile '{profile}' in {path}")
    section = parser[profile]
    return section["aws_access_key_id"], section["aws_secret_access_key"]


def main(argv: list[str]) -> int:
    real_nix = os.environ["NIX_S3_SHIM_REAL_NIX"]
    at = argv.index("--to") + 1 if "copy" in argv and "--to" in argv else None
    if at is None or not argv[at].startswith("s3://"):
        return subprocess.run([real_nix, *argv], check=False).returncode
    url = urlsplit(argv[at])
    query = dict(parse_qsl(url.query))
    access_key, secret_key = credentials(query.get("profile", "default"))
    endpoint = f"{query.get('scheme', 'https')}://{query['endpoint']}"
    with tempfile.TemporaryDirectory(prefix="nix-s3-shim-") as staging:
        rest = {k: v for k, v in query.items() if k not in S3_ONLY}
        file_url = f"file://{staging}?{urlencode(rest)}"
        copied = subprocess.run([real_nix, *argv[:at], file_url, *argv[at + 1 :]], check=False)
        if copied.returncode != 0:
            return copied.returncode
        try:
            keys = s3.upload_file_cache(
                s3.client(endpoint, access_key, secret_key), url.netloc, Path(staging)
            )
        except (ClientError, BotoCoreError) as error:
            print(f"error: uploading to '{argv[at]}': {error}", file=sys.stderr)
            return 1
    print(f"uploaded {len(keys)} objects to {endpoint}/{url.netloc}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

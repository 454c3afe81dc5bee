"""After-deploy check: is ``nix-cache-info`` really served to anonymous clients?

Everything else can be right and the cache still useless (a reverse proxy in front of MinIO, a wrong
public URL, a CA the machine does not trust), so the update fails with a clear message when a plain
anonymous GET does not return what was written. The script is a fixed string and every value reaches it
through the environment, never argv.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_command as command

CHECK_SCRIPT = r"""set -u
url="$NIX_CACHE_URL/nix-cache-info"
set -- -fsS --max-time 10 --retry 5 --retry-delay 1 --retry-all-errors
[ -n "${NIX_CACHE_CACERT:-}" ] && set -- "$@" --cacert "$NIX_CACHE_CACERT"
[ "${NIX_CACHE_INSECURE:-false}" = true ] && set -- "$@" --insecure
if ! body=$(curl "$@" "$url"); then
  echo "nix-cache: $url is not served to anonymous clients (see curl's error above)." >&2
  echo "Check nix-cache:publicUrl, the anonymous bucket policy and, for https, minio:minioCacertFile." >&2
  exit 1
fi
if [ "$body" != "$(printf '%s' "$NIX_CACHE_EXPECTED")" ]; then
  echo "nix-cache: $url is served, but not with the content this stack wrote:" >&2
  printf '%s\n--- expected ---\n%s' "$body" "$NIX_CACHE_EXPECTED" >&2
  exit 1
fi
echo "nix-cache: $url serves the expected nix-cache-info"
"""


@dataclass(frozen=True)
class ServedCheckArgs:
    public_url: str
    expected_cache_info: str
    cacert_file: str | None
    insecure: bool


class ServedCheck(pulumi.ComponentResource):
    command: command.local.Command

    def __init__(self, name: str, args: ServedCheckArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("nix-cache:index:ServedCheck", name, None, opts)
        environment = {
            "NIX_CACHE_URL": args.public_url,
            "NIX_CACHE_EXPECTED": args.expected_cache_info,
            "NIX_CACHE_CACERT": args.cacert_file or "",
            "NIX_CACHE_INSECURE": "true" if args.insecure else "false",
        }
        self.command = command.local.Command(
            f"{name}-fetch-cache-info",
            create=CHECK_SCRIPT,
            update=CHECK_SCRIPT,
            interpreter=["/bin/sh", "-c"],
            environment=environment,
            triggers=[args.public_url, args.expected_cache_info],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"stdout": self.command.stdout})

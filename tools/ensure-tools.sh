#!/usr/bin/env bash
# ensure-tools.sh: build, once per machine, the external tools this project
# runs (Pulumi CLI + Python language host, MinIO server, mc) from Go module
# sources pinned in tools/pins.env, into a cache outside the checkout:
#
#   ${NIX_CACHE_TOOLS_CACHE:-$HOME/.cache/nix-cache-tools}/<hash of pins.env>/
#     bin/pulumi                          Pulumi CLI (pulumi version -> v$PULUMI_VERSION)
#     bin/pulumi-language-python          shim -> libexec/pulumi-language-python (see pins.env)
#     bin/pulumi-language-python-exec     Python program runner (from sdk/v3 $PULUMI_VERSION)
#     bin/pulumi-resource-pulumi-python   Python dynamic-provider launcher (same)
#     bin/minio, bin/mc                   MinIO server and client
#     pulumi-home/                        use as PULUMI_HOME (no resource plugins: the
#                                         program's MinIO resources are its own dynamic
#                                         providers, run by pulumi-resource-pulumi-python)
#
# On success it prints exactly one line on stdout: the absolute cache directory.
# Progress goes to stderr. A second run only checks stamps and takes seconds.
#
# Run Pulumi fully offline with the cache like this (all of these are needed):
#   PATH=<cache>/bin:$PATH
#   PULUMI_HOME=<cache>/pulumi-home
#   PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true   # never download plugins
#   PULUMI_SKIP_UPDATE_CHECK=true                      # no version check on the network
#   PULUMI_BACKEND_URL=file://<absolute state dir>     # local state, no Pulumi Cloud login
#   PULUMI_CONFIG_PASSPHRASE=<passphrase>              # (or PULUMI_CONFIG_PASSPHRASE_FILE) for the
#                                                      # passphrase secrets provider of file backends
# The Python program's Pulumi.yaml may use
#   runtime: {name: python, options: {toolchain: pip, virtualenv: venv}}
# (the shim passes `virtualenv` on; only the pip toolchain is supported), or
# set PULUMI_PYTHON_CMD=<venv>/bin/python instead.
#
# Environment knobs: NIX_CACHE_TOOLS_CACHE (cache root), GOPROXY (the first
# http(s) entry of `go env GOPROXY` is used to fetch module zips, and there is
# no other: no registry's host is named here; go builds use it as usual).
# Needs: go (>= the go lines of the modules; go1.26.8 tested), curl, sha256sum,
# unzip (or python3); about 5 GB of disk for the Go module and build caches
# (GOMODCACHE ~2.6 GB, GOCACHE ~2.7 GB) plus 265 MB for the tool cache itself.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pins_file="$script_dir/pins.env"
# shellcheck source=pins.env disable=SC1091
. "$pins_file"

log() { printf 'ensure-tools: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

for cmd in go curl sha256sum; do
	command -v "$cmd" >/dev/null 2>&1 || die "'$cmd' is required but not on PATH"
done

pins_hash=$(sha256sum "$pins_file" | cut -c1-12)
cache_root=${NIX_CACHE_TOOLS_CACHE:-$HOME/.cache/nix-cache-tools}
mkdir -p "$cache_root"
cache_root=$(cd "$cache_root" && pwd)
cache="$cache_root/$pins_hash"
bin="$cache/bin"
libexec="$cache/libexec"
stamps="$cache/stamps"
pulumi_home="$cache/pulumi-home"
scratch="$cache/scratch"
mkdir -p "$bin" "$libexec" "$stamps" "$pulumi_home"

# One run at a time per cache (parallel make targets, two terminals).
if command -v flock >/dev/null 2>&1; then
	exec 9>"$cache/.lock"
	flock 9
fi

export CGO_ENABLED=0 GOWORK=off
# Keep the CLI off ~/.pulumi and the network while checking versions.
export PULUMI_SKIP_UPDATE_CHECK=true PULUMI_HOME="$pulumi_home"

# ---------------------------------------------------------------- helpers ---

# is_done NAME FILE...: the step's stamp exists and so do all its outputs
# (symlink targets included).
is_done() {
	local name=$1 f
	shift
	[[ -f "$stamps/$name" ]] || return 1
	for f in "$@"; do [[ -e "$f" ]] || return 1; done
}

mark_done() { printf '%s\n' "$2" >"$stamps/$1.tmp" && mv -f "$stamps/$1.tmp" "$stamps/$1"; }

# find_on_path NAME: the resolved path of the first NAME on PATH that is not
# inside this cache.
find_on_path() {
	local cand real
	while IFS= read -r cand; do
		real=$(readlink -f "$cand" 2>/dev/null) || continue
		[[ $real == "$cache"/* ]] && continue
		printf '%s\n' "$real"
		return 0
	done < <(type -aP "$1" 2>/dev/null || true)
	return 1
}

# install_file SRC DEST [MODE]: copy via a temp name, then rename.
install_file() {
	cp -f "$1" "$2.tmp.$$"
	chmod "${3:-0755}" "$2.tmp.$$"
	mv -f "$2.tmp.$$" "$2"
}

link_file() { ln -sfn "$1" "$2.tmp.$$" && mv -fT "$2.tmp.$$" "$2"; }

proxy_url() {
	local entry
	local -a entries
	IFS=',|' read -ra entries <<<"$(go env GOPROXY)"
	for entry in "${entries[@]}"; do
		case $entry in http://* | https://*)
			printf '%s\n' "${entry%/}"
			return
			;;
		esac
	done
	die "\`go env GOPROXY\` names no http(s) module proxy to fetch module zips from; set GOPROXY"
}

# Module path escaping of the proxy protocol: upper case -> '!' + lower case.
escape_module() { sed -E 's/([A-Z])/!\L\1/g' <<<"$1"; }

unzip_to() { # ZIP DIR
	if command -v unzip >/dev/null 2>&1; then
		unzip -q "$1" -d "$2"
	else
		python3 -m zipfile -e "$1" "$2"
	fi
}

# fetch_module MODULE VERSION SHA256 DEST: download the module zip from the
# proxy, check its sha256 against the pin, unpack its tree to DEST (writable).
fetch_module() {
	local mod=$1 ver=$2 sum=$3 dest=$4 proxy url zip got
	[[ -f "$dest.ok" && -d "$dest" ]] && return 0
	proxy=$(proxy_url) || exit 1
	rm -rf "$dest" "$dest.unz" "$dest.ok"
	mkdir -p "$dest.unz"
	url="$proxy/$(escape_module "$mod")/@v/$ver.zip"
	zip="$dest.unz/module.zip"
	log "  fetching $mod@$ver"
	curl -fsSL --retry 3 -o "$zip" "$url" || die "download failed: $url"
	got=$(sha256sum "$zip" | cut -d' ' -f1)
	[[ $got == "$sum" ]] || die "sha256 mismatch for $url: got $got, pinned $sum"
	unzip_to "$zip" "$dest.unz"
	[[ -d "$dest.unz/$mod@$ver" ]] || die "unexpected layout in $url"
	mv "$dest.unz/$mod@$ver" "$dest"
	rm -rf "$dest.unz"
	chmod -R u+w "$dest"
	: >"$dest.ok"
}

# run_logged LOG CMD...: run quietly; on failure show the log tail and stop.
run_logged() {
	local logf=$1
	shift
	if ! "$@" >"$logf" 2>&1; then
		tail -n 40 "$logf" >&2
		die "failed: $* (full log: $logf)"
	fi
}

step_start() { step_t0=$SECONDS; log "$*"; }
step_end() { log "  $1 done in $((SECONDS - step_t0))s"; }

pulumi_pkg_src="$scratch/src/pulumi/pkg"
pulumi_sdk_src="$scratch/src/pulumi/sdk"

fetch_pulumi_sdk() {
	fetch_module github.com/pulumi/pulumi/sdk/v3 "v$PULUMI_VERSION" "$PULUMI_SDK_ZIP_SHA256" "$pulumi_sdk_src"
}

# ------------------------------------------------------------ pulumi CLI ---
pulumi_from_path=""
ensure_pulumi() {
	if is_done pulumi "$bin/pulumi"; then
		pulumi_from_path=$(sed -n 's/^path //p' "$stamps/pulumi")
		return
	fi
	local cand
	if cand=$(find_on_path pulumi) &&
		[[ $(timeout 60 "$cand" version 2>/dev/null || true) == "v$PULUMI_VERSION" ]]; then
		log "using pulumi v$PULUMI_VERSION from PATH: $cand"
		link_file "$cand" "$bin/pulumi"
		pulumi_from_path=$cand
		mark_done pulumi "path $cand"
		return
	fi
	step_start "building pulumi v$PULUMI_VERSION (this takes minutes)…"
	mkdir -p "$scratch/logs"
	fetch_module github.com/pulumi/pulumi/pkg/v3 "v$PULUMI_VERSION" "$PULUMI_PKG_ZIP_SHA256" "$pulumi_pkg_src"
	fetch_pulumi_sdk
	# pkg/go.mod: replace github.com/pulumi/pulumi/sdk/v3 => ../sdk; any other
	# relative replace would need its directory laid out as well.
	if grep -E '^[[:space:]]*replace .*=>[[:space:]]*\.' "$pulumi_pkg_src/go.mod" | grep -vq '=> \.\./sdk$'; then
		die "pkg/go.mod has a relative replace this script does not lay out: $(grep -E '=>[[:space:]]*\.' "$pulumi_pkg_src/go.mod")"
	fi
	(
		cd "$pulumi_pkg_src"
		run_logged "$scratch/logs/pulumi.log" go build -trimpath \
			-ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" \
			-o "$bin/.pulumi.tmp" ./cmd/pulumi
	)
	mv -f "$bin/.pulumi.tmp" "$bin/pulumi"
	[[ $("$bin/pulumi" version) == "v$PULUMI_VERSION" ]] || die "built pulumi reports $("$bin/pulumi" version)"
	mark_done pulumi "built v$PULUMI_VERSION"
	step_end pulumi
}

# ---------------------------------------------------- Python language host ---
shim_text() {
	cat <<'EOF'
#!/bin/sh
# Generated by tools/ensure-tools.sh. The Python language host here is built
# from pulumi sdk v3.79.0 (the newer host module is not obtainable); it reads
# runtime options only from flags, which current CLIs no longer pass. Recover
# `virtualenv` from the Pulumi.yaml in the working directory (the CLI starts
# the host in the project root) and pass it on.
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
host="$here/../libexec/pulumi-language-python"
venv=""
for f in Pulumi.yaml Pulumi.yml; do
	if [ -f "$f" ]; then
		venv=$(sed -n 's/^[[:space:]]\{1,\}virtualenv:[[:space:]]*["'\'']\{0,1\}\([^"'\''#[:space:]]*\).*/\1/p' "$f" | head -n 1)
		break
	fi
done
if [ -n "$venv" ]; then
	exec "$host" -use-executor "$here/pulumi-language-python-exec" -root "$PWD" -virtualenv "$venv" "$@"
fi
exec "$host" -use-executor "$here/pulumi-language-python-exec" "$@"
EOF
}

ensure_python_host() {
	local outs=("$bin/pulumi-language-python" "$bin/pulumi-language-python-exec" "$bin/pulumi-resource-pulumi-python")
	is_done python-host "${outs[@]}" && return
	# A PATH pulumi (e.g. nixpkgs) ships its own matching host beside it.
	if [[ -n $pulumi_from_path ]]; then
		local d
		d=$(dirname "$pulumi_from_path")
		if [[ -x $d/pulumi-language-python && -e $d/pulumi-language-python-exec && -e $d/pulumi-resource-pulumi-python ]]; then
			log "using the Python language host beside $pulumi_from_path"
			local n
			for n in pulumi-language-python pulumi-language-python-exec pulumi-resource-pulumi-python pulumi-analyzer-policy-python; do
				[[ -e $d/$n ]] && link_file "$d/$n" "$bin/$n"
			done
			mark_done python-host "path $d"
			return
		fi
	fi
	step_start "building pulumi-language-python (from sdk v$PULUMI_LANGHOST_SDK_VERSION)…"
	mkdir -p "$scratch/logs"
	local src="$scratch/src/langhost-sdk"
	fetch_module github.com/pulumi/pulumi/sdk/v3 "v$PULUMI_LANGHOST_SDK_VERSION" "$PULUMI_LANGHOST_SDK_ZIP_SHA256" "$src"
	(
		cd "$src"
		run_logged "$scratch/logs/pulumi-language-python.log" go build -trimpath \
			-ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_LANGHOST_SDK_VERSION" \
			-o "$libexec/.pulumi-language-python.tmp" ./python/cmd/pulumi-language-python
	)
	mv -f "$libexec/.pulumi-language-python.tmp" "$libexec/pulumi-language-python"
	# Scripts that must match the Python SDK: from sdk/v3 of PULUMI_VERSION.
	fetch_pulumi_sdk
	install_file "$pulumi_sdk_src/python/cmd/pulumi-language-python-exec" "$bin/pulumi-language-python-exec"
	install_file "$pulumi_sdk_src/python/dist/pulumi-resource-pulumi-python" "$bin/pulumi-resource-pulumi-python"
	local extra
	for extra in "$pulumi_sdk_src"/python/dist/pulumi-analyzer-policy-python "$pulumi_sdk_src"/python/cmd/pulumi-analyzer-policy-python; do
		[[ -f $extra ]] && install_file "$extra" "$bin/pulumi-analyzer-policy-python"
	done
	shim_text >"$bin/.pulumi-language-python.tmp"
	chmod 0755 "$bin/.pulumi-language-python.tmp"
	mv -f "$bin/.pulumi-language-python.tmp" "$bin/pulumi-language-python"
	mark_done python-host "built host v$PULUMI_LANGHOST_SDK_VERSION, scripts v$PULUMI_VERSION"
	step_end pulumi-language-python
}

# ------------------------------------------------------- minio, mc (Go) ---
# ensure_minio_tool NAME MODULE MODVER SHA256 RELEASE VERSION_STAMP COMMIT BUILD_TAGS
ensure_minio_tool() {
	local name=$1 mod=$2 ver=$3 sum=$4 release=$5 vstamp=$6 commit=$7 tags=$8
	is_done "$name" "$bin/$name" && return
	local cand
	if cand=$(find_on_path "$name") && timeout 20 "$cand" --version 2>/dev/null </dev/null | grep -qF "$release"; then
		log "using $name $release from PATH: $cand"
		link_file "$cand" "$bin/$name"
		mark_done "$name" "path $cand"
		return
	fi
	step_start "building $name $release (this takes a few minutes)…"
	mkdir -p "$scratch/logs"
	local src="$scratch/src/$name"
	fetch_module "$mod" "$ver" "$sum" "$src"
	local pkg=$mod # both are github.com/minio/<x>/cmd
	(
		cd "$src"
		run_logged "$scratch/logs/$name.log" go build -tags "$tags" -trimpath \
			-ldflags "-s -w -X $pkg/cmd.Version=$vstamp -X $pkg/cmd.CopyrightYear=${vstamp%%-*} -X $pkg/cmd.ReleaseTag=$release -X $pkg/cmd.CommitID=$commit -X $pkg/cmd.ShortCommitID=${commit:0:12}" \
			-o "$bin/.$name.tmp" .
	)
	mv -f "$bin/.$name.tmp" "$bin/$name"
	"$bin/$name" --version </dev/null 2>/dev/null | grep -qF "$release" || die "built $name does not report $release"
	mark_done "$name" "built $release"
	step_end "$name"
}

# ------------------------------------------------------------------- main ---
t0=$SECONDS
ensure_pulumi
ensure_python_host
ensure_minio_tool minio github.com/minio/minio "$MINIO_MODULE_VERSION" "$MINIO_ZIP_SHA256" \
	"$MINIO_RELEASE" "$MINIO_VERSION_STAMP" "$MINIO_COMMIT" kqueue
ensure_minio_tool mc github.com/minio/mc "$MC_MODULE_VERSION" "$MC_ZIP_SHA256" \
	"$MC_RELEASE" "$MC_VERSION_STAMP" "$MC_COMMIT" kqueue

if [[ -d $scratch ]]; then
	chmod -R u+w "$scratch" 2>/dev/null || true
	rm -rf "$scratch"
fi
log "tools ready in $((SECONDS - t0))s"
printf '%s\n' "$cache"

#!/usr/bin/env bash
# Hermetic Pulumi toolchain: builds the pinned engine, language host and lab
# binaries from the Go module proxy into a cache keyed by the pins and the
# wrapper modules. Nothing is downloaded at preview/apply time.
#
# Usage: toolchain/build.sh [build|bin|dir|key|env|status]
#   build   build whatever is missing (default); a warm run only hashes files
#   bin     print the folder holding the binaries
#   dir     print the cache folder for the current key
#   key     print the cache key
#   env     print `export ...` lines that make pulumi run offline with this toolchain
#   status  list each pinned binary as built / missing / not buildable
#
# Environment:
#   KEYBUZZ_TOOLCHAIN_CACHE  cache root (default ~/.cache/keybuzz-toolchain)
#   KEYBUZZ_TOOLCHAIN_ONLY   space-separated subset to build:
#                            engine (pulumi + language host), lab (etcd, kube-apiserver), crds
set -euo pipefail

TOOLCHAIN_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MODULES="$TOOLCHAIN_DIR/modules"
# shellcheck source=pins.env
source "$TOOLCHAIN_DIR/pins.env"

CACHE_ROOT="${KEYBUZZ_TOOLCHAIN_CACHE:-$HOME/.cache/keybuzz-toolchain}"
ONLY="${KEYBUZZ_TOOLCHAIN_ONLY:-engine lab crds}"

log() { printf '[toolchain] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

command -v go >/dev/null || die "go is not on PATH (the machine image provides it)"

# The key covers everything that decides the bytes of the binaries: the pins,
# this script, every wrapper module file, and the Go toolchain version.
cache_key() {
	{
		go version
		cd "$TOOLCHAIN_DIR"
		find pins.env build.sh modules -type f \( -name 'go.mod' -o -name 'go.sum' -o -name '*.go' \
			-o -name 'pins.env' -o -name 'build.sh' \) | LC_ALL=C sort | xargs sha256sum
	} | sha256sum | cut -c1-16
}

KEY="$(cache_key)"
OUT="$CACHE_ROOT/$KEY"
BIN="$OUT/bin"

wants() { [[ " $ONLY " == *" $1 "* ]]; }

# Go settings shared by every build: module files are read-only (go.sum must
# already hold every hash), VCS stamping is off (wrappers live in the repo's
# git tree, and CI's clone must give the same bytes), and paths are trimmed.
export GOFLAGS="-mod=readonly -buildvcs=false"
export GOTOOLCHAIN=local

# check_pin DIR MODULE VERSION: the wrapper in DIR must resolve MODULE to exactly
# VERSION, so a pins.env edit without a wrapper update fails loudly.
check_pin() {
	local dir="$1" module="$2" want="$3" got
	got="$(cd "$dir" && go list -m -f '{{.Version}}' "$module")"
	[[ "$got" == "$want" ]] || die "$dir resolves $module to $got, pins.env says $want:" \
		"run 'cd $dir && go get $module@$want && go mod tidy'"
}

# build_go NAME VERSION DIR PACKAGE [LDFLAGS]: build one binary unless cached.
build_go() {
	local name="$1" version="$2" dir="$3" pkg="$4" ldflags="${5:-}" t0 t1
	if [[ -x "$BIN/$name" ]]; then
		log "$name $version: cached"
		return 0
	fi
	log "$name $version: building (go build $pkg) ..."
	t0=$(date +%s)
	(cd "$dir" && go build -trimpath -ldflags "-s -w $ldflags" -o "$BIN/.$name.tmp" "$pkg")
	mv -f "$BIN/.$name.tmp" "$BIN/$name"
	t1=$(date +%s)
	log "$name $version: built in $((t1 - t0)) s ($(du -h "$BIN/$name" | cut -f1))"
}

build_engine() {
	check_pin "$MODULES/pulumi" github.com/pulumi/pulumi/pkg/v3 "v$PULUMI_VERSION"
	check_pin "$MODULES/pulumi" github.com/pulumi/pulumi/sdk/v3 "v$PULUMI_VERSION"
	# `pulumi version` prints this variable; upstream's release builds set it the same way.
	build_go pulumi "$PULUMI_VERSION" "$MODULES/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
		"-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION"

	check_pin "$MODULES/language-python" github.com/pulumi/pulumi/sdk/v3 "v$PULUMI_LANGUAGE_PYTHON_VERSION"
	build_go pulumi-language-python "$PULUMI_LANGUAGE_PYTHON_VERSION" "$MODULES/language-python" . \
		"-X main.version=$PULUMI_LANGUAGE_PYTHON_VERSION"
	# The Python entry point the host runs, unmodified, from the same sdk/v3 module.
	if [[ ! -x "$BIN/pulumi-language-python-exec" ]]; then
		local sdkdir
		sdkdir="$(cd "$MODULES/language-python" && go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)"
		[[ -n "$sdkdir" ]] || (cd "$MODULES/language-python" && go mod download github.com/pulumi/pulumi/sdk/v3)
		sdkdir="$(cd "$MODULES/language-python" && go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)"
		install -m 0755 "$sdkdir/python/cmd/pulumi-language-python-exec" "$BIN/.exec.tmp"
		mv -f "$BIN/.exec.tmp" "$BIN/pulumi-language-python-exec"
		log "pulumi-language-python-exec $PULUMI_LANGUAGE_PYTHON_VERSION: copied from sdk/v3"
	fi
}

build_lab() {
	check_pin "$MODULES/etcd" go.etcd.io/etcd/server/v3 "v$ETCD_VERSION"
	build_go etcd "$ETCD_VERSION" "$MODULES/etcd" go.etcd.io/etcd/server/v3
	check_pin "$MODULES/kube-apiserver" k8s.io/kubernetes "v$KUBERNETES_VERSION"
	# Version stamps so `kube-apiserver --version` and /version tell the truth.
	local v="v$KUBERNETES_VERSION" ver=k8s.io/component-base/version
	local minor="${KUBERNETES_VERSION#*.}"
	minor="${minor%%.*}"
	build_go kube-apiserver "$KUBERNETES_VERSION" "$MODULES/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver \
		"-X $ver.gitVersion=$v -X $ver.gitMajor=1 -X $ver.gitMinor=$minor -X $ver.gitTreeState=clean"
}

# The CRDs are committed YAML in the module zip: download the module (hash
# checked by the checksum database and against pins.env) and copy them.
fetch_crds() {
	local dest="$OUT/crds/external-secrets" tmp json dir sum
	if [[ -f "$dest/.complete" ]]; then
		log "external-secrets CRDs $EXTERNAL_SECRETS_VERSION: cached"
		return 0
	fi
	log "external-secrets CRDs $EXTERNAL_SECRETS_VERSION: fetching module ..."
	tmp="$(mktemp -d)"
	# Outside any module: ESO's own go.mod requires unpublished local modules.
	json="$(cd "$tmp" && GOFLAGS= go mod download -json \
		"github.com/external-secrets/external-secrets@v$EXTERNAL_SECRETS_VERSION")"
	rmdir "$tmp"
	dir="$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' <<<"$json")"
	sum="$(sed -n 's/^[[:space:]]*"Sum": "\(.*\)",$/\1/p' <<<"$json")"
	[[ "$sum" == "$EXTERNAL_SECRETS_MODULE_SUM" ]] || die "external-secrets module hash $sum != pinned $EXTERNAL_SECRETS_MODULE_SUM"
	rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
	cp "$dir"/config/crds/bases/*.yaml "$dest.tmp/"
	rm -f "$dest.tmp/kustomization.yaml"
	chmod -R u+w "$dest.tmp"
	touch "$dest.tmp/.complete"
	rm -rf "$dest" && mv "$dest.tmp" "$dest"
	log "external-secrets CRDs $EXTERNAL_SECRETS_VERSION: $(find "$dest" -name '*.yaml' | wc -l) manifests"
}

# Providers are pinned (their SDKs are) but cannot be built here: see
# docs/toolchain.md, "What cannot be built here".
report_providers() {
	local p
	for p in "kubernetes $PULUMI_KUBERNETES_VERSION" "vault $PULUMI_VAULT_VERSION" \
		"postgresql $PULUMI_POSTGRESQL_VERSION"; do
		set -- $p
		if [[ -x "$BIN/pulumi-resource-$1" ]]; then
			log "pulumi-resource-$1 $2: present"
		else
			log "pulumi-resource-$1 $2: NOT BUILT (module not served by the Go module proxy; docs/toolchain.md)"
		fi
	done
}

print_env() {
	cat <<EOF
export PATH="$BIN:\$PATH"
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_BACKEND_URL="\${PULUMI_BACKEND_URL:-file://\$HOME/.local/state/keybuzz-pulumi}"
export KEYBUZZ_TOOLCHAIN_BIN="$BIN"
EOF
}

status() {
	local b
	for b in pulumi pulumi-language-python pulumi-language-python-exec etcd kube-apiserver \
		pulumi-resource-kubernetes pulumi-resource-vault pulumi-resource-postgresql; do
		if [[ -x "$BIN/$b" ]]; then echo "built    $b"; else echo "missing  $b"; fi
	done
	if [[ -f "$OUT/crds/external-secrets/.complete" ]]; then echo "built    crds/external-secrets"; else
		echo "missing  crds/external-secrets"; fi
}

case "${1:-build}" in
bin) echo "$BIN" ;;
dir) echo "$OUT" ;;
key) echo "$KEY" ;;
env) print_env ;;
status) status ;;
build)
	t_start=$(date +%s)
	mkdir -p "$BIN"
	log "cache $OUT (key from pins.env, build.sh, modules/, $(go env GOVERSION))"
	wants engine && build_engine
	wants lab && build_lab
	wants crds && fetch_crds
	wants engine && report_providers
	cp "$TOOLCHAIN_DIR/pins.env" "$OUT/pins.env"
	log "done in $(($(date +%s) - t_start)) s; binaries in $BIN"
	;;
*) die "unknown command '$1' (build|bin|dir|key|env|status)" ;;
esac

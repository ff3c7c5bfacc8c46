#!/usr/bin/env bash
# Hermetic Pulumi toolchain: builds the pinned engine, language host and lab
# binaries from the Go module proxy into a cache outside the repo. Nothing is
# downloaded at preview/apply time.
#
# Cache layout (root: ${KEYBUZZ_TOOLCHAIN_CACHE:-~/.cache/keybuzz-toolchain}):
#   objects/<name>-<version>-<key>/   one built artifact; <key> hashes what decides its
#                                     bytes: Go version, build command, its wrapper module
#   <set key>/bin/                    hard links to the objects of the current pins;
#                                     <set key> hashes all object keys
# so a pin or wrapper change rebuilds only the artifact it concerns.
#
# Usage: toolchain/build.sh [build|bin|dir|key|env|status]
#   build   build whatever is missing (default); a warm run only hashes files
#   bin     print the folder holding the binaries
#   dir     print the set folder for the current pins
#   key     print the set key
#   object NAME  print the object folder of one artifact (pulumi, etcd, ..., crds)
#   env     print `export ...` lines that make pulumi run offline with this toolchain
#   status  list each pinned artifact as built / missing
#
# Environment:
#   KEYBUZZ_TOOLCHAIN_CACHE  cache root (default ~/.cache/keybuzz-toolchain)
#   KEYBUZZ_TOOLCHAIN_ONLY   space-separated subset to build (default: all):
#                            engine (pulumi + language host), lab (etcd, kube-apiserver), crds,
#                            ci (actionlint, the workflow linter)
set -euo pipefail

TOOLCHAIN_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MODULES="$TOOLCHAIN_DIR/modules"
# shellcheck source=pins.env
source "$TOOLCHAIN_DIR/pins.env"

CACHE_ROOT="${KEYBUZZ_TOOLCHAIN_CACHE:-$HOME/.cache/keybuzz-toolchain}"
OBJECTS="$CACHE_ROOT/objects"
ONLY="${KEYBUZZ_TOOLCHAIN_ONLY:-engine lab crds ci}"

log() { printf '[toolchain] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

command -v go >/dev/null || die "go is not on PATH (the machine image provides it)"

# Go settings shared by every build: module files are read-only (go.sum must
# already hold every hash), VCS stamping is off (wrappers live in the repo's
# git tree, and CI's clone must give the same bytes), and paths are trimmed.
export GOFLAGS="-mod=readonly -buildvcs=false"
export GOTOOLCHAIN=local
GO_VERSION="$(go env GOVERSION)"

K_VER="k8s.io/component-base/version"
K_MINOR="${KUBERNETES_VERSION#*.}"
K_MINOR="${K_MINOR%%.*}"

# Artifacts: name|version|wrapper dir|package|ldflags. The ldflags stamp versions
# so `pulumi version` and `kube-apiserver --version` tell the truth (upstream's
# release builds set the same variables).
ARTIFACTS=(
	"pulumi|$PULUMI_VERSION|pulumi|github.com/pulumi/pulumi/pkg/v3/cmd/pulumi|-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION"
	"pulumi-language-python|$PULUMI_LANGUAGE_PYTHON_VERSION|language-python|.|-X main.version=$PULUMI_LANGUAGE_PYTHON_VERSION"
	"etcd|$ETCD_VERSION|etcd|go.etcd.io/etcd/server/v3|"
	"kube-apiserver|$KUBERNETES_VERSION|kube-apiserver|k8s.io/kubernetes/cmd/kube-apiserver|-X $K_VER.gitVersion=v$KUBERNETES_VERSION -X $K_VER.gitMajor=1 -X $K_VER.gitMinor=$K_MINOR -X $K_VER.gitTreeState=clean"
	"actionlint|$ACTIONLINT_VERSION|actionlint|github.com/rhysd/actionlint/cmd/actionlint|-X github.com/rhysd/actionlint.version=v$ACTIONLINT_VERSION"
)
group_of() {
	case "$1" in
	pulumi | pulumi-language-python) echo engine ;;
	etcd | kube-apiserver) echo lab ;;
	actionlint) echo ci ;;
	esac
}

# object_key NAME VERSION DIR PKG LDFLAGS: hash of everything that decides the bytes.
object_key() {
	local name="$1" version="$2" dir="$3" pkg="$4" ldflags="$5"
	{
		echo "$name $version $GO_VERSION $GOFLAGS"
		echo "go build -trimpath -ldflags '-s -w $ldflags' $pkg"
		cd "$MODULES/$dir"
		find . -type f \( -name go.mod -o -name go.sum -o -name '*.go' \) | LC_ALL=C sort | xargs sha256sum
	} | sha256sum | cut -c1-16
}
crds_key() { echo "external-secrets $EXTERNAL_SECRETS_VERSION $EXTERNAL_SECRETS_MODULE_SUM" | sha256sum | cut -c1-16; }

declare -A OBJ
for a in "${ARTIFACTS[@]}"; do
	IFS='|' read -r name version dir pkg ldflags <<<"$a"
	OBJ[$name]="$OBJECTS/$name-$version-$(object_key "$name" "$version" "$dir" "$pkg" "$ldflags")"
done
OBJ[crds]="$OBJECTS/external-secrets-crds-$EXTERNAL_SECRETS_VERSION-$(crds_key)"

KEY="$(for n in "${!OBJ[@]}"; do echo "$n ${OBJ[$n]##*/}"; done | LC_ALL=C sort | sha256sum | cut -c1-16)"
OUT="$CACHE_ROOT/$KEY"
BIN="$OUT/bin"

wants() { [[ " $ONLY " == *" $1 "* ]]; }

# check_pin DIR MODULE VERSION: the wrapper in DIR must resolve MODULE to exactly
# VERSION, so a pins.env edit without a wrapper update fails loudly.
check_pin() {
	local dir="$MODULES/$1" module="$2" want="$3" got
	got="$(cd "$dir" && go list -m -f '{{.Version}}' "$module")"
	[[ "$got" == "$want" ]] || die "modules/$1 resolves $module to $got, pins.env says $want:" \
		"run 'cd toolchain/modules/$1 && go get $module@$want && go mod tidy'"
}

check_pins() {
	case "$1" in
	pulumi)
		check_pin pulumi github.com/pulumi/pulumi/pkg/v3 "v$PULUMI_VERSION"
		check_pin pulumi github.com/pulumi/pulumi/sdk/v3 "v$PULUMI_VERSION"
		;;
	pulumi-language-python) check_pin language-python github.com/pulumi/pulumi/sdk/v3 "v$PULUMI_LANGUAGE_PYTHON_VERSION" ;;
	etcd) check_pin etcd go.etcd.io/etcd/server/v3 "v$ETCD_VERSION" ;;
	kube-apiserver) check_pin kube-apiserver k8s.io/kubernetes "v$KUBERNETES_VERSION" ;;
	actionlint) check_pin actionlint github.com/rhysd/actionlint "v$ACTIONLINT_VERSION" ;;
	esac
}

# link NAME OBJECT-FILE: expose an object in the set's bin folder. A hard link,
# not a symlink: pulumi resolves its own path and treats plugins in that same
# folder as bundled; through symlinks it would find the language host "ambient"
# on PATH and warn on every run. The host also finds its -exec script beside
# its own (unresolved) path.
link() { ln -f "$2" "$BIN/$1"; }

build_artifact() {
	local name="$1" version="$2" dir="$3" pkg="$4" ldflags="$5" obj="${OBJ[$1]}" t0 tmp sdkdir
	if [[ -f "$obj/.complete" ]]; then
		log "$name $version: cached"
	else
		check_pins "$name"
		log "$name $version: building (go build $pkg) ..."
		t0=$(date +%s)
		tmp="$obj.tmp.$$"
		rm -rf "$tmp" && mkdir -p "$tmp"
		(cd "$MODULES/$dir" && go build -trimpath -ldflags "-s -w $ldflags" -o "$tmp/$name" "$pkg")
		if [[ "$name" == pulumi-language-python ]]; then
			# The Python entry point the host runs, unmodified, from the same sdk/v3 module.
			sdkdir="$(cd "$MODULES/$dir" && go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)"
			install -m 0755 "$sdkdir/python/cmd/pulumi-language-python-exec" "$tmp/"
		fi
		touch "$tmp/.complete"
		rm -rf "$obj" && mv "$tmp" "$obj"
		log "$name $version: built in $(($(date +%s) - t0)) s ($(du -h "$obj/$name" | cut -f1))"
	fi
	link "$name" "$obj/$name"
	[[ "$name" != pulumi-language-python ]] || link pulumi-language-python-exec "$obj/pulumi-language-python-exec"
}

# The CRDs are committed YAML in the module zip: download the module (hash
# checked by the checksum database and against pins.env) and copy them.
fetch_crds() {
	local obj="${OBJ[crds]}" tmp json dir sum
	if [[ -f "$obj/.complete" ]]; then
		log "external-secrets CRDs $EXTERNAL_SECRETS_VERSION: cached"
	else
		log "external-secrets CRDs $EXTERNAL_SECRETS_VERSION: fetching module ..."
		tmp="$(mktemp -d)"
		# Outside any module: ESO's own go.mod requires unpublished local modules.
		json="$(cd "$tmp" && GOFLAGS= go mod download -json \
			"github.com/external-secrets/external-secrets@v$EXTERNAL_SECRETS_VERSION")"
		rmdir "$tmp"
		dir="$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' <<<"$json")"
		sum="$(sed -n 's/^[[:space:]]*"Sum": "\(.*\)",$/\1/p' <<<"$json")"
		[[ "$sum" == "$EXTERNAL_SECRETS_MODULE_SUM" ]] ||
			die "external-secrets module hash $sum != pinned $EXTERNAL_SECRETS_MODULE_SUM"
		tmp="$obj.tmp.$$"
		rm -rf "$tmp" && mkdir -p "$tmp"
		cp "$dir"/config/crds/bases/*.yaml "$tmp/"
		rm -f "$tmp/kustomization.yaml"
		chmod -R u+w "$tmp"
		touch "$tmp/.complete"
		rm -rf "$obj" && mv "$tmp" "$obj"
		log "external-secrets CRDs $EXTERNAL_SECRETS_VERSION: $(find "$obj" -name '*.yaml' | wc -l) manifests"
	fi
	mkdir -p "$OUT/crds"
	ln -sfn "$obj" "$OUT/crds/external-secrets"
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
	cat <<ENV
export PATH="$BIN:\$PATH"
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_BACKEND_URL="\${PULUMI_BACKEND_URL:-file://\$HOME/.local/state/keybuzz-pulumi}"
export KEYBUZZ_TOOLCHAIN_BIN="$BIN"
ENV
}

status() {
	local b
	for b in pulumi pulumi-language-python pulumi-language-python-exec etcd kube-apiserver actionlint \
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
object) echo "${OBJ[${2:?object NAME}]}" ;;
env) print_env ;;
status) status ;;
build)
	t_start=$(date +%s)
	mkdir -p "$BIN" "$OBJECTS"
	log "set $OUT ($GO_VERSION; objects in $OBJECTS)"
	for a in "${ARTIFACTS[@]}"; do
		IFS='|' read -r name version dir pkg ldflags <<<"$a"
		wants "$(group_of "$name")" && build_artifact "$name" "$version" "$dir" "$pkg" "$ldflags"
	done
	wants crds && fetch_crds
	wants engine && report_providers
	cp "$TOOLCHAIN_DIR/pins.env" "$OUT/pins.env"
	log "done in $(($(date +%s) - t_start)) s; binaries in $BIN"
	;;
*) die "unknown command '$1' (build|bin|dir|key|env|status)" ;;
esac

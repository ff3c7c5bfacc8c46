#!/usr/bin/env bash
# Hermetic Pulumi toolchain: builds the pinned engine, language host, provider
# plugins and lab binaries into a cache outside the repo, from the Go module
# proxy and from the pinned upstream trees of toolchain/upstream.lock (the
# modules the proxy here refuses). Nothing is downloaded at preview/apply time.
#
# Cache layout (root: ${KEYBUZZ_TOOLCHAIN_CACHE:-~/.cache/keybuzz-toolchain}):
#   objects/<name>-<version>-<key>/   one built artifact; <key> hashes what decides its
#                                     bytes: Go version, build command, its wrapper module,
#                                     the digests of the upstream trees it builds from and
#                                     the preparation step that stages them
#   stage/<name>-<key>/               scratch folder of a build (wrapper + `upstream` link);
#                                     removed when the build succeeds, kept when it fails
#   <set key>/bin/                    hard links to the objects of the current pins;
#                                     <set key> hashes all object keys
#   <set key>/plugins/                the provider plugins (not on PATH: installed into
#                                     the set's own Pulumi home, see install_plugins)
#   <set key>/pulumi-home/            the toolchain's PULUMI_HOME (`env` exports it): its
#                                     plugins/ holds the source-built provider plugins at their
#                                     versions. Never the user's ~/.pulumi, where they would
#                                     shadow the released plugins of the same versions for
#                                     every other Pulumi project of that user.
# so a pin, wrapper or upstream tree change rebuilds only the artifact it concerns.
#
# Usage: toolchain/build.sh [build|bin|plugins|install-plugins|dir|key|object NAME|env|status|list]
#   build   build whatever is missing (default), then install-plugins; a warm run only hashes files
#   bin     print the folder holding the binaries (engine, language host, lab, ci)
#   plugins print the folder holding the provider plugins
#   home    print the toolchain's Pulumi home (PULUMI_HOME of `env`)
#   install-plugins [DIR]  put the provider plugins in DIR/plugins (default: the toolchain's
#           Pulumi home; never the ambient PULUMI_HOME) at their versions, what the engine
#           resolves; a no-op when the same bytes are there
#   dir     print the set folder for the current pins
#   key     print the set key
#   object NAME  print the object folder of one artifact (pulumi, etcd, ..., crds)
#   env     print `export ...` lines that make pulumi run offline with this toolchain
#   status  list each pinned artifact as built / missing / NOT BUILDABLE (and why)
#   list    print "name version group" per artifact
#
# Environment:
#   KEYBUZZ_TOOLCHAIN_CACHE  cache root (default ~/.cache/keybuzz-toolchain)
#   KEYBUZZ_TOOLCHAIN_ONLY   space-separated groups or artifact names to build (default: all):
#                            engine (pulumi + language host), providers (kubernetes, vault,
#                            postgresql plugins), lab (etcd, kube-apiserver, kube-controller-manager,
#                            external-secrets, reloader), crds, ci (actionlint, the workflow linter;
#                            kube-score, the manifest checker)
#   KEYBUZZ_UPSTREAM_DIR     the upstream trees (default ../shared/upstream; toolchain/upstream.sh)
set -euo pipefail

TOOLCHAIN_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MODULES="$TOOLCHAIN_DIR/modules"
UPSTREAM_SH="$TOOLCHAIN_DIR/upstream.sh"
# shellcheck source=pins.env
source "$TOOLCHAIN_DIR/pins.env"

CACHE_ROOT="${KEYBUZZ_TOOLCHAIN_CACHE:-$HOME/.cache/keybuzz-toolchain}"
OBJECTS="$CACHE_ROOT/objects"
STAGES="$CACHE_ROOT/stage"
ONLY="${KEYBUZZ_TOOLCHAIN_ONLY:-engine providers lab crds ci}"
SRC="$(bash "$UPSTREAM_SH" dir)"
LOCK="${KEYBUZZ_UPSTREAM_LOCK:-$TOOLCHAIN_DIR/upstream.lock}"

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
PYHOST="github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3"

# Artifacts: name|version|group|wrapper dir|package|ldflags|tags|upstream trees|hook
# The ldflags stamp versions so `pulumi version`, `kube-apiserver --version` and
# each plugin's GetPluginInfo tell the truth (upstream's release builds set the
# same variables). Upstream trees (comma-separated names of toolchain/upstream.lock)
# are verified by digest and linked into the stage as ./upstream, which the wrapper's
# go.mod replaces point into. A hook (a function below) prepares the stage before
# `go build` (schemas, patched copies) or adds files to the object after it.
ARTIFACTS=(
	"pulumi|$PULUMI_VERSION|engine|pulumi|github.com/pulumi/pulumi/pkg/v3/cmd/pulumi|-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION|||"
	"pulumi-language-python|$PULUMI_LANGUAGE_PYTHON_VERSION|engine|language-python|$PYHOST|-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_LANGUAGE_PYTHON_VERSION|osusergo|pulumi-language-python-v$PULUMI_LANGUAGE_PYTHON_VERSION|hook_language_python"
	"pulumi-resource-postgresql|$PULUMI_POSTGRESQL_VERSION|providers|provider-postgresql|.|-X github.com/pulumi/pulumi-postgresql/provider/v3/pkg/version.Version=$PULUMI_POSTGRESQL_VERSION||pulumi-postgresql-v$PULUMI_POSTGRESQL_VERSION,$TERRAFORM_PROVIDER_POSTGRESQL_TREE|hook_postgresql"
	"pulumi-resource-vault|$PULUMI_VAULT_VERSION|providers|provider-vault|.|-X github.com/pulumi/pulumi-vault/provider/v7/pkg/version.Version=$PULUMI_VAULT_VERSION||pulumi-vault-v$PULUMI_VAULT_VERSION,$TERRAFORM_PROVIDER_VAULT_TREE|hook_vault"
	"pulumi-resource-kubernetes|$PULUMI_KUBERNETES_VERSION|providers|provider-kubernetes|.|-X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$PULUMI_KUBERNETES_VERSION||pulumi-kubernetes-v$PULUMI_KUBERNETES_VERSION,$FLUXCD_SSA_TREE|hook_kubernetes"
	"etcd|$ETCD_VERSION|lab|etcd|go.etcd.io/etcd/server/v3||||"
	"kube-apiserver|$KUBERNETES_VERSION|lab|kube-apiserver|k8s.io/kubernetes/cmd/kube-apiserver|-X $K_VER.gitVersion=v$KUBERNETES_VERSION -X $K_VER.gitMajor=1 -X $K_VER.gitMinor=$K_MINOR -X $K_VER.gitTreeState=clean|||"
	"kube-controller-manager|$KUBERNETES_VERSION|lab|kube-apiserver|k8s.io/kubernetes/cmd/kube-controller-manager|-X $K_VER.gitVersion=v$KUBERNETES_VERSION -X $K_VER.gitMajor=1 -X $K_VER.gitMinor=$K_MINOR -X $K_VER.gitTreeState=clean|||"
	"external-secrets|$EXTERNAL_SECRETS_VERSION|lab|external-secrets|github.com/external-secrets/external-secrets||vault|external-secrets-v$EXTERNAL_SECRETS_VERSION|"
	"reloader|$RELOADER_VERSION|lab|reloader|github.com/stakater/Reloader|-X github.com/stakater/Reloader/pkg/common.Version=v$RELOADER_VERSION||reloader-v$RELOADER_VERSION,$OPENSHIFT_API_TREE|hook_reloader"
	"actionlint|$ACTIONLINT_VERSION|ci|actionlint|github.com/rhysd/actionlint/cmd/actionlint|-X github.com/rhysd/actionlint.version=v$ACTIONLINT_VERSION|||"
	"kube-score|$KUBE_SCORE_VERSION|ci|kube-score|github.com/zegl/kube-score/cmd/kube-score|-X main.version=$KUBE_SCORE_VERSION|||"
)

# --- hooks: stage preparation (before go build) and extra files (after) ----------------------

# set_schema_version IN OUT VERSION: upstream's generate.go step (schema-embed.json).
set_schema_version() {
	python3 - "$1" "$2" "$3" <<'PY'
import json, sys
src, dst, version = sys.argv[1:]
with open(src) as f:
    spec = json.load(f)
spec["version"] = version
with open(dst, "w") as f:
    json.dump(spec, f, separators=(",", ":"))
PY
}

# Each hook is called as HOOK pre|post STAGE OBJECT-TMP and runs with cwd = STAGE.
hook_language_python() {
	[[ "$1" == post ]] || return 0
	local tree="upstream/pulumi-language-python-v$PULUMI_LANGUAGE_PYTHON_VERSION/sdk/python"
	# The Python entry point the host runs and the dynamic-provider shim, as upstream ships them.
	install -m 0755 "$tree/cmd/pulumi-language-python-exec" "$3/"
	install -m 0755 "$tree/dist/pulumi-resource-pulumi-python" "$3/"
}

# patched_copy TREE PATCH_DIR: upstream/TREE copied to patched/TREE (the pinned tree stays untouched),
# then every PATCH_DIR/*.patch applied to the copy; a patch that does not apply stops the build.
patched_copy() {
	local tree="$1" dir="$2" p
	mkdir -p patched
	cp -r "upstream/$tree" patched/
	chmod -R u+w "patched/$tree"
	for p in "$dir"/*.patch; do
		patch -s -p1 -d "patched/$tree" <"$p" || die "patch $p does not apply to $tree"
	done
}

hook_postgresql() {
	[[ "$1" == pre ]] || return 0
	# The bridged Terraform provider is used with the wrapper repository's patches applied
	# to a copy (as upstream's `make upstream` does).
	patched_copy "$TERRAFORM_PROVIDER_POSTGRESQL_TREE" "upstream/pulumi-postgresql-v$PULUMI_POSTGRESQL_VERSION/patches"
	set_schema_version \
		"upstream/pulumi-postgresql-v$PULUMI_POSTGRESQL_VERSION/provider/cmd/pulumi-resource-postgresql/schema.json" \
		schema.json "$PULUMI_POSTGRESQL_VERSION"
}

hook_reloader() {
	[[ "$1" == pre ]] || return 0
	# Upstream's metrics/health server binds ":9090" (every interface, a hard-coded constant);
	# the wrapper's patches make the address configurable (RELOADER_HTTP_LISTEN_ADDR) so the lab
	# runs it on loopback. Applied to a copy, as for the postgresql provider.
	patched_copy "reloader-v$RELOADER_VERSION" patches
}

hook_vault() {
	[[ "$1" == pre ]] || { cp schema.json "$3/"; return 0; }
	local gen
	# The schema is not in the tree (too large for the snapshot): regenerate it with the
	# repository's own tfgen, built from the same wrapper, run from a folder holding
	# provider/ and upstream/ (the Terraform tree) as its Makefile does.
	log "  pulumi-tfgen-vault: building and generating the schema ..."
	go build -trimpath -ldflags "-s -w -X github.com/pulumi/pulumi-vault/provider/v7/pkg/version.Version=$PULUMI_VAULT_VERSION" \
		-o tfgen/pulumi-tfgen-vault github.com/pulumi/pulumi-vault/provider/v7/cmd/pulumi-tfgen-vault
	gen="$(pwd)/tfgen/gen"
	mkdir -p "$gen/out"
	ln -sfn "$(pwd)/upstream/pulumi-vault-v$PULUMI_VAULT_VERSION/provider" "$gen/provider"
	ln -sfn "$(pwd)/upstream/$TERRAFORM_PROVIDER_VAULT_TREE" "$gen/upstream"
	(cd "$gen" && "$OLDPWD/tfgen/pulumi-tfgen-vault" schema --skip-examples --out out >tfgen.log 2>&1) ||
		die "pulumi-tfgen-vault failed: $(tail -20 "$gen/tfgen.log")"
	set_schema_version "$gen/out/schema.json" schema.json "$PULUMI_VAULT_VERSION"
}

hook_kubernetes() {
	[[ "$1" == pre ]] || { cp schema.json "$3/"; return 0; }
	local tree="upstream/pulumi-kubernetes-v$PULUMI_KUBERNETES_VERSION/provider/cmd/pulumi-resource-kubernetes" swagger
	# The schema comes from the Kubernetes OpenAPI v2 document of the API server the lab
	# runs (KUBERNETES_VERSION), read from the k8s.io/kubernetes module (hash checked by the
	# checksum database), through the repository's own generator package (cmd/schema).
	log "  kubernetes schema: generating from the k8s.io/kubernetes v$KUBERNETES_VERSION OpenAPI document ..."
	swagger="$(module_json "k8s.io/kubernetes@v$KUBERNETES_VERSION" | json_field Dir)/api/openapi-spec/swagger.json"
	[[ -f "$swagger" ]] || die "no OpenAPI document at $swagger"
	go build -trimpath -ldflags "-s -w" -o tfgen/pulumi-kubernetes-schema ./cmd/schema
	tfgen/pulumi-kubernetes-schema "$swagger" "$PULUMI_KUBERNETES_VERSION" schema.json
	cp "$tree/terraform-mapping.json" "$tree/helm-mapping.json" .
}

# module_json MODULE@VERSION: download (or find) a module outside any wrapper module, so no
# go.mod constrains it; print `go mod download -json`.
module_json() {
	local tmp json
	tmp="$(mktemp -d)"
	json="$(cd "$tmp" && GOFLAGS= go mod download -json "$1")"
	rmdir "$tmp"
	echo "$json"
}

# json_field NAME < JSON: a top-level string field of `go mod download -json`.
json_field() { sed -n "s/^[[:space:]]*\"$1\": \"\(.*\)\",\$/\1/p"; }

# --- keys -------------------------------------------------------------------------------------

# tree_lines TREES: the lock lines of the named trees (their digests decide the bytes).
tree_lines() {
	local t
	for t in ${1//,/ }; do
		awk -v n="$t" '$1 == n' "$LOCK"
	done
}

# object_key NAME VERSION DIR PKG LDFLAGS TAGS TREES HOOK: hash of everything that decides the bytes.
object_key() {
	local name="$1" version="$2" dir="$3" pkg="$4" ldflags="$5" tags="$6" trees="$7" hook="$8"
	{
		echo "$name $version $GO_VERSION $GOFLAGS"
		echo "go build -trimpath -tags '$tags' -ldflags '-s -w $ldflags' $pkg"
		[[ -z "$trees" ]] || tree_lines "$trees"
		[[ -z "$hook" ]] || declare -f "$hook" set_schema_version patched_copy
		[[ "$hook" != hook_kubernetes ]] || echo "openapi k8s.io/kubernetes v$KUBERNETES_VERSION"
		cd "$MODULES/$dir"
		find . -type f \( -name go.mod -o -name go.sum -o -name '*.go' -o -name '*.patch' \) | LC_ALL=C sort | xargs sha256sum
	} | sha256sum | cut -c1-16
}
crds_key() { echo "external-secrets $EXTERNAL_SECRETS_VERSION $EXTERNAL_SECRETS_MODULE_SUM" | sha256sum | cut -c1-16; }

declare -A OBJ GROUP
for a in "${ARTIFACTS[@]}"; do
	IFS='|' read -r name version group dir pkg ldflags tags trees hook <<<"$a"
	OBJ[$name]="$OBJECTS/$name-$version-$(object_key "$name" "$version" "$dir" "$pkg" "$ldflags" "$tags" "$trees" "$hook")"
	GROUP[$name]="$group"
done
OBJ[crds]="$OBJECTS/external-secrets-crds-$EXTERNAL_SECRETS_VERSION-$(crds_key)"

KEY="$(for n in "${!OBJ[@]}"; do echo "$n ${OBJ[$n]##*/}"; done | LC_ALL=C sort | sha256sum | cut -c1-16)"
OUT="$CACHE_ROOT/$KEY"
BIN="$OUT/bin"
PLUGINS="$OUT/plugins"
PULUMI_HOME_DIR="$OUT/pulumi-home"

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
	etcd) check_pin etcd go.etcd.io/etcd/server/v3 "v$ETCD_VERSION" ;;
	kube-apiserver | kube-controller-manager) check_pin kube-apiserver k8s.io/kubernetes "v$KUBERNETES_VERSION" ;;
	actionlint) check_pin actionlint github.com/rhysd/actionlint "v$ACTIONLINT_VERSION" ;;
	kube-score) check_pin kube-score github.com/zegl/kube-score "v$KUBE_SCORE_VERSION" ;;
	esac
	# Artifacts built from upstream trees are pinned by the trees' versions (their
	# folder names carry the pins) and digests (upstream.lock), checked in build_artifact.
}

# link NAME OBJECT-FILE: expose an object in the set's bin folder. A hard link,
# not a symlink: pulumi resolves its own path and treats plugins in that same
# folder as bundled; through symlinks it would find the language host "ambient"
# on PATH and warn on every run. The host also finds its -exec script beside
# its own (unresolved) path.
link() { ln -f "$2" "$BIN/$1"; }

# stage DIR WRAPPER TREES: the wrapper module plus an `upstream` link to the source folder.
make_stage() {
	local stage="$1" dir="$2"
	rm -rf "$stage" && mkdir -p "$stage"
	cp -r "$MODULES/$dir/." "$stage/"
	ln -s "$SRC" "$stage/upstream"
}

build_artifact() {
	local name="$1" version="$2" dir="$3" pkg="$4" ldflags="$5" tags="$6" trees="$7" hook="$8"
	local obj="${OBJ[$1]}" t0 tmp stage f
	if [[ -f "$obj/.complete" ]]; then
		log "$name $version: cached"
	else
		check_pins "$name"
		[[ -z "$trees" ]] || bash "$UPSTREAM_SH" verify ${trees//,/ }
		log "$name $version: building (go build ${tags:+-tags $tags }$pkg) ..."
		t0=$(date +%s)
		tmp="$obj.tmp.$$"
		stage="$STAGES/${obj##*/}"
		rm -rf "$tmp" && mkdir -p "$tmp"
		make_stage "$stage" "$dir"
		(
			cd "$stage"
			[[ -z "$hook" ]] || "$hook" pre "$stage" "$tmp"
			go build -trimpath ${tags:+-tags "$tags"} -ldflags "-s -w $ldflags" -o "$tmp/$name" "$pkg"
			[[ -z "$hook" ]] || "$hook" post "$stage" "$tmp"
		) || die "$name $version: build failed; its stage is kept in $stage"
		chmod -R u+w "$stage" && rm -rf "$stage"
		touch "$tmp/.complete"
		rm -rf "$obj" && mv "$tmp" "$obj"
		log "$name $version: built in $(($(date +%s) - t0)) s ($(du -h "$obj/$name" | cut -f1))"
	fi
	for f in "$obj"/*; do
		if [[ -f "$f" && -x "$f" ]]; then
			# Provider plugins are not put on PATH: the engine would use them as "ambient" plugins
			# and warn on every run. They go to plugins/, and install_plugins puts them in the
			# PULUMI_HOME plugin cache at their version, where the engine looks them up.
			if [[ "${GROUP[$name]}" == providers ]]; then ln -f "$f" "$PLUGINS/${f##*/}"; else link "${f##*/}" "$f"; fi
		fi
	done
	return 0
}

# install_plugins [DIR]: each built provider plugin into DIR/plugins (default: the toolchain's own
# Pulumi home) at its version (`pulumi plugin install --file`, run with PULUMI_HOME=DIR), unless the
# same bytes are already there. The ambient PULUMI_HOME is ignored on purpose: a user who exports
# PULUMI_HOME=~/.pulumi must not get the released plugins shadowed either.
install_plugins() {
	local a name version group home short dest obj n=0
	home="${1:-$PULUMI_HOME_DIR}"
	mkdir -p "$home"
	[[ -x "$BIN/pulumi" ]] || die "install-plugins needs the engine: run 'make toolchain' first"
	for a in "${ARTIFACTS[@]}"; do
		IFS='|' read -r name version group _ <<<"$a"
		[[ "$group" == providers ]] || continue
		obj="${OBJ[$name]}/$name"
		[[ -x "$obj" ]] || { log "plugin $name $version: not built, not installed"; continue; }
		short="${name#pulumi-resource-}"
		dest="$home/plugins/resource-$short-v$version/$name"
		if cmp -s "$obj" "$dest"; then
			n=$((n + 1))
			continue
		fi
		PULUMI_HOME="$home" PULUMI_SKIP_UPDATE_CHECK=true "$BIN/pulumi" plugin install resource "$short" \
			"$version" --file "$obj" --reinstall >/dev/null || die "pulumi plugin install resource $short $version failed"
		log "plugin $short $version: installed in $home/plugins"
		n=$((n + 1))
	done
	log "$n provider plugins in $home/plugins"
}

# The CRDs are committed YAML in the module zip: download the module (hash
# checked by the checksum database and against pins.env) and copy them.
fetch_crds() {
	local obj="${OBJ[crds]}" tmp json dir sum
	if [[ -f "$obj/.complete" ]]; then
		log "external-secrets CRDs $EXTERNAL_SECRETS_VERSION: cached"
	else
		log "external-secrets CRDs $EXTERNAL_SECRETS_VERSION: fetching module ..."
		# Outside any module: ESO's own go.mod requires unpublished local modules.
		json="$(module_json "github.com/external-secrets/external-secrets@v$EXTERNAL_SECRETS_VERSION")"
		dir="$(json_field Dir <<<"$json")"
		sum="$(json_field Sum <<<"$json")"
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

print_env() {
	cat <<ENV
export PATH="$BIN:\$PATH"
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_HOME="$PULUMI_HOME_DIR"
export PULUMI_BACKEND_URL="\${PULUMI_BACKEND_URL:-file://\$HOME/.local/state/keybuzz-pulumi}"
export KEYBUZZ_TOOLCHAIN_BIN="$BIN"
ENV
}

status() {
	local a name version group dir pkg ldflags tags trees hook why
	for a in "${ARTIFACTS[@]}"; do
		IFS='|' read -r name version group dir pkg ldflags tags trees hook <<<"$a"
		if [[ -f "${OBJ[$name]}/.complete" ]] && [[ -x "$BIN/$name" || -x "$PLUGINS/$name" ]]; then
			printf 'built          %-28s %-8s %s\n' "$name" "$version" "$group"
		elif [[ -n "$trees" ]] && ! why="$(bash "$UPSTREAM_SH" verify ${trees//,/ } 2>&1)"; then
			printf 'NOT BUILDABLE  %-28s %-8s %s: %s\n' "$name" "$version" "$group" "${why#\[upstream\] ERROR: }"
		else
			printf 'missing        %-28s %-8s %s (make toolchain builds it)\n' "$name" "$version" "$group"
		fi
	done
	if [[ -f "$OUT/crds/external-secrets/.complete" ]]; then
		printf 'built          %-28s %-8s %s\n' crds/external-secrets "$EXTERNAL_SECRETS_VERSION" crds
	else
		printf 'missing        %-28s %-8s %s (make toolchain builds it)\n' crds/external-secrets "$EXTERNAL_SECRETS_VERSION" crds
	fi
}

case "${1:-build}" in
bin) echo "$BIN" ;;
dir) echo "$OUT" ;;
key) echo "$KEY" ;;
object) echo "${OBJ[${2:?object NAME}]}" ;;
env) print_env ;;
plugins) echo "$PLUGINS" ;;
home) echo "$PULUMI_HOME_DIR" ;;
install-plugins) install_plugins "${2:-}" ;;
status) status ;;
list)
	for a in "${ARTIFACTS[@]}"; do
		IFS='|' read -r name version group _ <<<"$a"
		echo "$name $version $group"
	done
	;;
build)
	t_start=$(date +%s)
	mkdir -p "$BIN" "$PLUGINS" "$OBJECTS"
	log "set $OUT ($GO_VERSION; objects in $OBJECTS; upstream trees in $SRC)"
	n=0 total=0
	for a in "${ARTIFACTS[@]}"; do
		IFS='|' read -r name _ group _ <<<"$a"
		if wants "$group" || wants "$name"; then total=$((total + 1)); fi
	done
	for a in "${ARTIFACTS[@]}"; do
		IFS='|' read -r name version group dir pkg ldflags tags trees hook <<<"$a"
		if wants "$group" || wants "$name"; then
			n=$((n + 1))
			log "($n/$total) $name"
			build_artifact "$name" "$version" "$dir" "$pkg" "$ldflags" "$tags" "$trees" "$hook"
		fi
	done
	if wants crds; then fetch_crds; fi
	if wants providers && [[ -x "$BIN/pulumi" ]]; then install_plugins; fi
	cp "$TOOLCHAIN_DIR/pins.env" "$OUT/pins.env"
	log "done in $(($(date +%s) - t_start)) s; binaries in $BIN"
	;;
*) die "unknown command '$1' (build|bin|plugins|home|install-plugins [DIR]|dir|key|object NAME|env|status|list)" ;;
esac

#!/usr/bin/env bash
# Prints the replace block for modules/kube-apiserver/go.mod: k8s.io/kubernetes
# points each staging module at a directory inside its own repository
# (`k8s.io/X => ./staging/src/k8s.io/X`); the wrapper maps each one to the
# published staging module of the same release, `k8s.io/X v0.<minor>.<patch>`.
# Usage: toolchain/gen-kube-replaces.sh 1.36.3   (then paste over the block, go mod tidy)
set -euo pipefail
version="${1:?usage: $0 KUBERNETES_VERSION (e.g. 1.36.3)}"
staging="v0.${version#*.}"
tmp="$(mktemp -d)"
trap 'rmdir "$tmp"' EXIT
# Outside any module, so the wrapper's own go.mod does not constrain the lookup.
gomod="$(cd "$tmp" && GOFLAGS= go mod download -json "k8s.io/kubernetes@v$version" |
	sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
echo "replace ("
sed -n '/^replace (/,/^)/p' "$gomod" | awk -v v="$staging" '$2 == "=>" && $3 ~ /^\.\/staging\// { printf "\t%s => %s %s\n", $1, $1, v }'
echo ")"

#!/usr/bin/env bash
# Pinned upstream source trees (toolchain/upstream.lock): the inputs of the
# artifacts the Go module proxy here cannot serve (the provider plugins, the
# upstream Python language host, the lab's controllers).
#
# Usage: toolchain/upstream.sh COMMAND [TREE...]
#   dir              print the source directory
#   digest DIR       print the digest of a tree folder (as the lock records it)
#   verify [TREE..]  check that each tree (default: all) is present and has its locked digest
#   fetch  [TREE..]  fill the source directory from the upstream repositories at the
#                    locked commits (needs git and internet; an existing good tree is kept)
#   list             print the locked tree names
#
# Environment:
#   KEYBUZZ_UPSTREAM_DIR   source directory (default: ../shared/upstream from the repo root)
#   KEYBUZZ_UPSTREAM_LOCK  lock file (default: toolchain/upstream.lock; tests point it elsewhere)
#
# Digest: SHA-256 over the sorted `sha256sum` lines of every regular file of the
# tree except MISSING.txt (a snapshot's own note) and the paths the lock marks
# as omitted (large generated files the build regenerates), so a tree filled by
# `fetch` and the shared snapshot of the same commit have the same digest.
set -euo pipefail

TOOLCHAIN_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$TOOLCHAIN_DIR/.." && pwd)"
LOCK="${KEYBUZZ_UPSTREAM_LOCK:-$TOOLCHAIN_DIR/upstream.lock}"
SRC="$(realpath -m "${KEYBUZZ_UPSTREAM_DIR:-$REPO_ROOT/../shared/upstream}")"

log() { printf '[upstream] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# lock_entries: "name repo ref commit paths omit digest" per tree, comments dropped.
lock_entries() { sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$LOCK"; }

lock_entry() {
	local line
	line="$(lock_entries | awk -v n="$1" '$1 == n')"
	[[ -n "$line" ]] || die "no tree '$1' in $LOCK (known: $(lock_entries | awk '{print $1}' | tr '\n' ' '))"
	echo "$line"
}

# digest DIR [OMIT]: OMIT is a comma-separated list of tree-relative paths left out.
digest() {
	local dir="$1" omit="${2:--}"
	[[ -d "$dir" ]] || die "digest: no folder $dir"
	(
		cd "$dir"
		find . -type f ! -path ./MISSING.txt -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum |
			awk -v omit="$omit" 'BEGIN { n = split(omit, o, ","); for (i = 1; i <= n; i++) skip["./" o[i]] = 1 }
				!($2 in skip)'
	) | sha256sum | cut -d' ' -f1 | sed 's/^/sha256:/'
}

how_to_get() {
	echo "get it with 'bash toolchain/upstream.sh fetch $1' (needs git and internet), or point" \
		"KEYBUZZ_UPSTREAM_DIR at a folder holding it (now: $SRC)"
}

verify_tree() {
	local name repo ref commit paths omit want got
	read -r name repo ref commit paths omit want <<<"$(lock_entry "$1")"
	[[ -d "$SRC/$name" ]] || die "upstream tree '$name' ($repo at $ref = $commit) is missing from $SRC: $(how_to_get "$name")"
	got="$(digest "$SRC/$name" "$omit")"
	[[ "$got" == "$want" ]] || die "upstream tree '$name' in $SRC has digest $got, the lock pins $want:" \
		"the tree was altered or is another version. Restore it: $(how_to_get "$name")"
}

fetch_tree() {
	local name repo ref commit paths omit want tmp full got
	read -r name repo ref commit paths omit want <<<"$(lock_entry "$1")"
	if [[ -d "$SRC/$name" ]] && [[ "$(digest "$SRC/$name" "$omit")" == "$want" ]]; then
		log "$name: present, digest matches"
		return
	fi
	command -v git >/dev/null || die "fetch needs git"
	log "$name: fetching $repo at $ref ($commit) ..."
	tmp="$(mktemp -d)"
	trap 'rm -rf "$tmp"' RETURN
	# Every branch and tag, blobs fetched lazily: enough to resolve a tag or an abbreviated
	# commit, then `git archive` reads only the blobs of the locked paths.
	git clone -q --bare --filter=blob:none "$repo" "$tmp/repo.git" || die "$name: cannot clone $repo"
	full="$(git -C "$tmp/repo.git" rev-parse --verify -q "$ref^{commit}")" ||
		die "$name: $repo has no $ref"
	[[ "$full" == "$commit"* ]] || die "$name: $ref is $full in $repo, the lock pins $commit"
	mkdir -p "$tmp/tree"
	# shellcheck disable=SC2086
	git -C "$tmp/repo.git" archive --format=tar "$full" -- ${paths//,/ } | tar -x -C "$tmp/tree"
	if [[ "$omit" != "-" ]]; then
		local p
		for p in ${omit//,/ }; do rm -f "$tmp/tree/$p"; done
	fi
	got="$(digest "$tmp/tree" "$omit")"
	[[ "$got" == "$want" ]] || die "$name: fetched tree has digest $got, the lock pins $want"
	mkdir -p "$SRC"
	rm -rf "${SRC:?}/$name.tmp" && mv "$tmp/tree" "$SRC/$name.tmp"
	rm -rf "${SRC:?}/$name" && mv "$SRC/$name.tmp" "$SRC/$name"
	log "$name: fetched, digest matches"
}

names() { if (($#)); then printf '%s\n' "$@"; else lock_entries | awk '{print $1}'; fi; }

case "${1:-}" in
dir) echo "$SRC" ;;
digest) digest "${2:?digest DIR}" "${3:--}" ;;
list) names ;;
verify)
	shift
	for n in $(names "$@"); do verify_tree "$n"; done
	;;
fetch)
	shift
	for n in $(names "$@"); do fetch_tree "$n"; done
	;;
*) die "usage: $0 dir|digest DIR|list|verify [TREE...]|fetch [TREE...]" ;;
esac

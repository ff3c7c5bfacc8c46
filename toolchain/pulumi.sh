#!/usr/bin/env bash
# Runs the toolchain's pinned pulumi offline: toolchain binaries first on PATH,
# no update check, no plugin download, a local file backend unless
# PULUMI_BACKEND_URL is set. Usage: toolchain/pulumi.sh <pulumi args...>
#
# Guard: the real `dev` and `prod` stacks talk to the estate's private
# addresses. This wrapper refuses to run any command on them unless
# KEYBUZZ_ESTATE_ACCESS=yes, which only a machine allowed to reach the estate sets.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
eval "$(bash "$here/build.sh" env)"
[[ -x "$KEYBUZZ_TOOLCHAIN_BIN/pulumi" ]] || {
	echo "toolchain/pulumi.sh: no pulumi in $KEYBUZZ_TOOLCHAIN_BIN; run 'make toolchain'" >&2
	exit 1
}

case "$PULUMI_BACKEND_URL" in file://*) mkdir -p "${PULUMI_BACKEND_URL#file://}" ;; esac

if [[ "${KEYBUZZ_ESTATE_ACCESS:-}" != "yes" ]]; then
	stack="${PULUMI_STACK:-}"
	args=("$@")
	for ((i = 0; i < ${#args[@]}; i++)); do
		case "${args[i]}" in
		-s | --stack) stack="${args[i + 1]:-}" ;;
		--stack=*) stack="${args[i]#--stack=}" ;;
		esac
	done
	if [[ -z "$stack" ]]; then
		stack="$(pulumi stack --show-name 2>/dev/null || true)"
	fi
	case "${stack##*/}" in
	dev | prod)
		echo "toolchain/pulumi.sh: refusing to run on stack '$stack': it reaches the estate." \
			"Use a lab stack (e.g. lab-dev), or set KEYBUZZ_ESTATE_ACCESS=yes on a machine allowed to." >&2
		exit 2
		;;
	esac
fi
exec pulumi "$@"

#!/usr/bin/env bash
# Measures the toolchain build: cold time (empty Go build cache, empty toolchain
# cache, Go module cache as it is), warm `make toolchain` time, and disk use.
# Figures go to stdout and to $RESULTS; docs/toolchain.md quotes them.
#
# Usage: toolchain/measure.sh [--cold-modules]
#   --cold-modules  also start from an empty Go module cache (adds download time)
# Environment:
#   MEASURE_CACHE  toolchain cache root to build into (default: a new temp dir,
#                  removed at the end unless it is KEYBUZZ_TOOLCHAIN_CACHE's default)
#   RESULTS        file to append the figures to (default /tmp/keybuzz-toolchain-measure.txt)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cold_modules=false
[[ "${1:-}" == "--cold-modules" ]] && cold_modules=true

work="$(mktemp -d /tmp/keybuzz-toolchain-measure.XXXXXX)"
cache="${MEASURE_CACHE:-$work/cache}"
export KEYBUZZ_TOOLCHAIN_CACHE="$cache"
export GOCACHE="$work/gocache"
if $cold_modules; then export GOMODCACHE="$work/gomodcache"; fi
RESULTS="${RESULTS:-/tmp/keybuzz-toolchain-measure.txt}"

dir="$(bash toolchain/build.sh dir)"
[[ ! -e "$cache/objects" ]] || { echo "measure: $cache already holds objects; pick an empty MEASURE_CACHE" >&2; exit 1; }

stamp() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

{
	echo "== keybuzz toolchain measurement $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, load before: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "go: $(go version | cut -d' ' -f3-)   key: $(basename "$dir")   cold modules: $cold_modules"
} | tee -a "$RESULTS"

t0=$(stamp)
make -s toolchain 2>&1 | tee "$work/cold.log"
t1=$(stamp)
make -s toolchain 2>&1 | tee "$work/warm.log"
t2=$(stamp)

{
	echo "per binary (cold):"
	grep -E '^\[toolchain\] .*(built in|manifests)' "$work/cold.log" | sed 's/^/  /'
	echo "cold make toolchain: $(secs "$t0" "$t1") s"
	echo "warm make toolchain: $(secs "$t1" "$t2") s"
	echo "disk: toolchain cache $(du -sh "$KEYBUZZ_TOOLCHAIN_CACHE" | cut -f1) ($KEYBUZZ_TOOLCHAIN_CACHE: objects + links)"
	echo "disk: Go build cache after cold build $(du -sh "$GOCACHE" | cut -f1)"
	if $cold_modules; then
		echo "disk: Go module cache $(du -sh "$GOMODCACHE" | cut -f1) (only what the toolchain downloads)"
	else
		echo "disk: Go module cache $(du -sh "$(go env GOMODCACHE)" | cut -f1) ($(go env GOMODCACHE), shared with other Go work)"
	fi
	echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee -a "$RESULTS"

# The temp Go build cache is only for the measurement.
chmod -R u+w "$work" 2>/dev/null || true
if [[ -z "${MEASURE_CACHE:-}" ]]; then rm -rf "$work"; else rm -rf "$work/gocache" "$work/gomodcache"; fi

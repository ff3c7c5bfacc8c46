# Hermetic Pulumi toolchain (included by the top-level Makefile).
# The binaries live outside the repo, in a cache keyed by toolchain/pins.env and
# the wrapper modules: ${KEYBUZZ_TOOLCHAIN_CACHE:-~/.cache/keybuzz-toolchain}/<key>.
TOOLCHAIN_SH := toolchain/build.sh

.PHONY: toolchain toolchain-bin toolchain-env toolchain-status toolchain-measure test-toolchain lint-workflows

toolchain: ## build the pinned Pulumi engine, language host and lab binaries (a warm run is a no-op)
	@bash $(TOOLCHAIN_SH) build

toolchain-bin: ## print the folder holding the toolchain binaries
	@bash $(TOOLCHAIN_SH) bin

toolchain-env: ## print exports for running pulumi offline: eval "$(make -s toolchain-env)"
	@bash $(TOOLCHAIN_SH) env

toolchain-status: ## list which pinned binaries are built, missing or not buildable
	@bash $(TOOLCHAIN_SH) status

toolchain-measure: ## cold build, warm run and disk use of the toolchain (figures for docs/toolchain.md)
	@bash toolchain/measure.sh

test-toolchain: $(STAMP) toolchain ## toolchain tier: pins, versions, an offline preview with the built engine
	$(PY) -m pytest -m toolchain tests/toolchain

lint-workflows: toolchain ## actionlint (built by the toolchain) on .github/workflows
	"$$(bash $(TOOLCHAIN_SH) bin)/actionlint" -color .github/workflows/*.yml

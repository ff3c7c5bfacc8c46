# Operations on stacks through the Automation API (python -m ops; docs/operations.md).
# Included by the top-level Makefile. The pulumi on PATH is the toolchain's (make toolchain), run offline
# with a local file backend unless PULUMI_BACKEND_URL says otherwise (`eval "$(python -m lab env)"` points
# it at the lab's). Every target that runs the engine runs the policy pack with the stack's pack config
# (ops/policy.py). The estate stacks dev/prod are refused unless KEYBUZZ_ESTATE_ACCESS=yes
# (python -m ops --estate). OPS_ARGS passes more arguments to python -m ops (e.g. --cwd DIR).
STACK ?=
TO ?=
OPS_ARGS ?=
OPS_ENV = eval "$$(bash toolchain/build.sh env)" &&

.PHONY: test-e2e preview up drift rollback history destroy preflight

test-e2e: $(STAMP) lab-setup node-setup toolchain ## e2e tier: the real program on the lab (real engine, providers, ESO), ops, workflows linted
	$(OPS_ENV) $(PY) -m pytest -m e2e tests/e2e

preview: $(STAMP) toolchain ## pulumi preview --diff of STACK, policy pack on (make preview STACK=lab-dev)
	@test -n "$(STACK)" || { echo "usage: make preview STACK=lab-dev" >&2; exit 1; }
	@$(OPS_ENV) $(PY) -m ops preview --stack "$(STACK)" $(OPS_ARGS)

up: $(STAMP) toolchain ## apply the checkout to STACK, policy pack on, and record it (make up STACK=lab-dev)
	@test -n "$(STACK)" || { echo "usage: make up STACK=lab-dev" >&2; exit 1; }
	@$(OPS_ENV) $(PY) -m ops up --stack "$(STACK)" $(OPS_ARGS)

drift: $(STAMP) toolchain ## refresh preview of STACK, fields another field manager set, the policy pack; exit 4 on drift
	@test -n "$(STACK)" || { echo "usage: make drift STACK=lab-dev" >&2; exit 1; }
	@$(OPS_ENV) $(PY) -m ops drift --stack "$(STACK)" $(OPS_ARGS)

preflight: $(STAMP) ## read-only: what the next up would do to the live estate of STACK, each fact classified with its fix (docs/preflight.md)
	@test -n "$(STACK)" || { echo "usage: make preflight STACK=lab-prod" >&2; exit 1; }
	@$(PY) -m ops preflight --stack "$(STACK)" $(OPS_ARGS)

history: $(STAMP) toolchain ## recorded deployments of STACK (make history STACK=lab-dev)
	@test -n "$(STACK)" || { echo "usage: make history STACK=lab-dev" >&2; exit 1; }
	@$(OPS_ENV) $(PY) -m ops history --stack "$(STACK)" $(OPS_ARGS)

rollback: $(STAMP) toolchain ## preview re-applying deployment TO of STACK, policy pack on; YES=1 applies (make rollback STACK=lab-dev TO=3)
	@test -n "$(STACK)" && test -n "$(TO)" || { echo "usage: make rollback STACK=lab-dev TO=N [YES=1]" >&2; exit 1; }
	@$(OPS_ENV) $(PY) -m ops rollback --stack "$(STACK)" --to "$(TO)" $(if $(YES),--yes) $(OPS_ARGS)

destroy: $(STAMP) toolchain ## decommission STACK once approved (docs/runbook-decommissioning.md); YES=1 destroys
	@test -n "$(STACK)" || { echo "usage: make destroy STACK=lab-dev [YES=1]" >&2; exit 1; }
	@$(OPS_ENV) $(PY) -m ops destroy --stack "$(STACK)" $(if $(YES),--yes) $(OPS_ARGS)

# The local HA lab (included by the top-level Makefile, which defines PY and STAMP).
# State dir and ports: LAB_STATE_DIR (default .lab) and LAB_BASE_PORT (default 15400) from the environment,
# or LAB_ARGS="--state-dir DIR --base-port N" on the command line.
LAB := $(PY) -m lab
MODE ?= switchover
LAB_ARGS ?=

NODE_DIR := lab/node
NODE_STAMP := $(NODE_DIR)/node_modules/.package-lock.json

.PHONY: lab-setup node-setup lab-up lab-stacks lab-down lab-status lab-failover test-lab bench-lab bench-stacks

lab-setup: $(STAMP) ## install the lab's Debian packages if missing (postgresql, patroni, etcd-server, haproxy)
	bash lab/setup.sh

node-setup: $(NODE_STAMP) ## install node-postgres, the Node apps' driver (npm ci of lab/node's committed lock)

# npm ci writes node_modules/.package-lock.json; it is redone only when the project or its lock changes.
$(NODE_STAMP): $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	@command -v node >/dev/null && command -v npm >/dev/null || { echo "node-setup: needs node >= 20 and npm" >&2; exit 1; }
	npm ci --prefix $(NODE_DIR) --no-audit --no-fund
	touch $@

lab-up: lab-setup toolchain ## start etcd, 3 Patroni nodes, HAProxy, OpenBao and the Kubernetes API on 127.0.0.1
	$(LAB) up --kube $(LAB_ARGS)

lab-stacks: $(STAMP) ## write the lab-dev/lab-prod stacks for the running lab, seed what they adopt
	$(LAB) stacks $(LAB_ARGS)

lab-down: $(STAMP) ## stop everything the lab started (by PID); data is kept, PURGE=1 deletes it
	$(LAB) down $(LAB_ARGS) $(if $(PURGE),--purge)

lab-status: $(STAMP) ## members, roles, leader, HAProxy routing, ports
	$(LAB) status $(LAB_ARGS)

lab-failover: $(STAMP) ## fail the leader over under write load: MODE=switchover|kill|sigterm
	$(LAB) failover --mode $(MODE) $(LAB_ARGS)

test-lab: lab-setup node-setup ## lab tier: contract tests on a lab of their own (brought up and down by the tests)
	$(PY) -m pytest -m lab tests/lab

bench-stacks: $(STAMP) lab-setup toolchain ## real engine on a lab: make demo, warm preview, no-op up, program vs flat twin
	$(PY) -m bench.lab_stack_bench

bench-lab: lab-setup ## bring-up time, credential latency, failover write gaps (figures for docs/lab.md)
	$(PY) -m bench.lab_bench

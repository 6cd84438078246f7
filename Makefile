# Kefu's two commands: `make dev` and `make test`. Everything they need is
# installed into the project (.venv/ for the Python tools: moto, cargo-lambda,
# cfn-lint, SAM CLI, the gateway's and the tests' libraries).

SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
ADMIN := target/debug/kefu-admin

# Everything that talks to the local stack runs in its environment, defined
# once in local/env (`local/stack.sh run`; see `local/stack.sh env`).
STACK := local/stack.sh
WITH_ENV := $(STACK) run

# The functions `make package` builds: every crate under functions/.
FUNCTIONS := $(notdir $(wildcard functions/*))
ARM64 := aarch64-unknown-linux-gnu

.PHONY: dev test bench tools build lint stack stop status logs tenant token package lambda-rustflags clean

## dev: start the local stack with hot reload, seed the demo tenant, print
## URLs and tokens, then show the logs until Ctrl-C stops everything. Run
## from a script (no terminal) or with DETACH=1, it returns after the banner
## and the stack keeps running until `make stop`.
dev: build
	@$(STACK) start reload
	@$(WITH_ENV) $(ADMIN) seed-demo > .local/demo.json
	@if [ -z "$(DETACH)" ] && [ -t 0 ] && [ -t 1 ]; then \
		$(WITH_ENV) $(BIN)/python local/banner.py .local/demo.json follow && $(STACK) follow; \
	else $(WITH_ENV) $(BIN)/python local/banner.py .local/demo.json detached; fi

## test: everything CI runs: lint, unit, store and end-to-end tests, on a
## stack that never reloads (tests never race a rebuild).
test: lint build
	@$(STACK) start
	$(WITH_ENV) cargo test --workspace -- --include-ignored
	$(WITH_ENV) $(BIN)/python -m pytest tests -q

## bench: the figures of BENCHMARKS.md, each script against the local stack
## (none of them is a timed test; they print tables to paste, with medians).
## The dispatch burst takes about half an hour at the issue's 1,000 visitors
## (DISPATCH_VISITORS=200 for a quick try), the soak 10 minutes
## (SOAK_MINUTES=2 for a quick try); cold starts need release builds.
DISPATCH_VISITORS ?= 1000
SOAK_MINUTES ?= 10
bench: build
	@$(STACK) start
	$(WITH_ENV) $(BIN)/python tests/bench_requests.py
	$(WITH_ENV) $(BIN)/python tests/bench_canned.py
	$(WITH_ENV) $(BIN)/python tests/bench_translate.py
	$(WITH_ENV) $(BIN)/python tests/bench_latency.py
	$(WITH_ENV) $(BIN)/python tests/bench_dispatch.py $(DISPATCH_VISITORS)
	$(WITH_ENV) $(BIN)/python tests/bench_soak.py $(SOAK_MINUTES)
	cargo build --release --workspace
	$(WITH_ENV) $(BIN)/python tests/bench_coldstart.py

tools: $(VENV)/.installed

$(VENV)/.installed: local/requirements.txt
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r local/requirements.txt
	@touch $@

build: tools
	cargo build --workspace

lint: tools
	$(BIN)/cfn-lint template.yaml
	$(WITH_ENV) $(BIN)/sam validate --lint --region us-east-1
	cargo fmt --all -- --check

stack: build
	@$(STACK) start

stop:
	@$(STACK) stop

## logs: follow the running stack's logs (Ctrl-C stops the stack too).
logs:
	@$(STACK) follow

status:
	@$(STACK) status

## tenant: make tenant ID=acme NAME="Acme Ltd" — a tenant and its first admin.
tenant: build
	@test -n "$(ID)" -a -n "$(NAME)" || { echo 'usage: make tenant ID=acme NAME="Acme Ltd"'; exit 2; }
	@$(WITH_ENV) $(ADMIN) create-tenant "$(ID)" "$(NAME)"

## token: make token ID=acme AGENT=admin — a fresh token for an agent.
token: build
	@$(WITH_ENV) $(ADMIN) token "$(ID)" "$(AGENT)"

## package: the arm64 release build of every function, as Lambda runs it
## (cargo-lambda, cross-linked with zig from PyPI): target/lambda/<name>/bootstrap.zip.
## LAMBDA_RUSTFLAGS apply to the Lambda target only, never to the native
## builds the tests and `cargo lambda watch` run (tests unwind; a build
## script or proc macro cannot be built non-PIC): no unwind tables (panics
## abort) and a non-position-independent executable (no relocations to
## carry); cargo-lambda's own target CPU is kept. `sam build` takes them
## from the environment (README, "Deploying with SAM").
LAMBDA_RUSTFLAGS := -C target-cpu=neoverse-n1 -C force-unwind-tables=no -C relocation-model=static
package: $(VENV)/.package-tools
	rustup target add $(ARM64)
	CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="$(LAMBDA_RUSTFLAGS)" PATH="$(CURDIR)/$(BIN):$$PATH" \
		$(BIN)/cargo-lambda lambda build --release --arm64 --output-format zip \
		$(foreach f,$(FUNCTIONS),--package $(f))
	@for f in $(FUNCTIONS); do \
		printf '%-24s %8s bytes zipped, %9s bytes unzipped\n' $$f \
			$$(stat -c %s target/lambda/$$f/bootstrap.zip) \
			$$(unzip -Zt target/lambda/$$f/bootstrap.zip | awk '{print $$3}'); done

## lambda-rustflags: LAMBDA_RUSTFLAGS, for `sam build` (README).
lambda-rustflags:
	@echo "$(LAMBDA_RUSTFLAGS)"

$(VENV)/.package-tools: $(VENV)/.installed
	$(BIN)/pip install -q "ziglang==0.13.0.post1"
	@touch $@

clean: stop
	rm -rf .local

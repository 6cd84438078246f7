# Kefu's two commands: `make dev` and `make test`. Everything they need is
# installed into the project (.venv/ for the Python tools: moto, cargo-lambda,
# cfn-lint, SAM CLI, the gateway's and the tests' libraries).

SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
ADMIN := target/debug/kefu-admin

# For the tools run from here (the admin CLI, table creation, store tests).
# The functions' own local environment is in Cargo.toml's
# [workspace.metadata.lambda.env]; keep the two in step.
export AWS_ACCESS_KEY_ID ?= local
export AWS_SECRET_ACCESS_KEY ?= local
export AWS_REGION ?= us-east-1
export AWS_DEFAULT_REGION ?= us-east-1
export AWS_ENDPOINT_URL_DYNAMODB ?= http://127.0.0.1:8000
export TABLE_NAME ?= kefu
export JWT_SECRET ?= kefu-local-dev-secret
export SAM_CLI_TELEMETRY ?= 0

# The functions `make package` builds: every crate under functions/.
FUNCTIONS := $(notdir $(wildcard functions/*))
ARM64 := aarch64-unknown-linux-gnu

.PHONY: dev test tools build lint stack stop status logs tenant token package clean

## dev: start the local stack with hot reload, seed the demo tenant, print
## URLs and tokens, then show the logs until Ctrl-C stops everything. Run
## from a script (no terminal) or with DETACH=1, it returns after the banner
## and the stack keeps running until `make stop`.
dev: build
	@local/stack.sh start reload
	@$(ADMIN) seed-demo > .local/demo.json
	@if [ -z "$(DETACH)" ] && [ -t 0 ] && [ -t 1 ]; then \
		$(BIN)/python local/banner.py .local/demo.json follow && local/stack.sh follow; \
	else $(BIN)/python local/banner.py .local/demo.json detached; fi

## test: everything CI runs: lint, unit, store and end-to-end tests, on a
## stack that never reloads (tests never race a rebuild).
test: lint build
	@local/stack.sh start
	cargo test --workspace -- --include-ignored
	$(BIN)/python -m pytest tests -q

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
	$(BIN)/sam validate --lint --region us-east-1
	cargo fmt --all -- --check

stack: build
	@local/stack.sh start

stop:
	@local/stack.sh stop

## logs: follow the running stack's logs (Ctrl-C stops the stack too).
logs:
	@local/stack.sh follow

status:
	@local/stack.sh status

## tenant: make tenant ID=acme NAME="Acme Ltd" — a tenant and its first admin.
tenant: build
	@test -n "$(ID)" -a -n "$(NAME)" || { echo 'usage: make tenant ID=acme NAME="Acme Ltd"'; exit 2; }
	@$(ADMIN) create-tenant "$(ID)" "$(NAME)"

## token: make token ID=acme AGENT=admin — a fresh token for an agent.
token: build
	@$(ADMIN) token "$(ID)" "$(AGENT)"

## package: the arm64 release build of every function, as Lambda runs it
## (cargo-lambda, cross-linked with zig from PyPI): target/lambda/<name>/bootstrap.zip.
package: $(VENV)/.package-tools
	rustup target add $(ARM64)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/cargo-lambda lambda build --release --arm64 --output-format zip \
		$(foreach f,$(FUNCTIONS),--package $(f))
	@for f in $(FUNCTIONS); do \
		printf '%-24s %8s bytes zipped, %9s bytes unzipped\n' $$f \
			$$(stat -c %s target/lambda/$$f/bootstrap.zip) \
			$$(unzip -Zt target/lambda/$$f/bootstrap.zip | awk '{print $$3}'); done

$(VENV)/.package-tools: $(VENV)/.installed
	$(BIN)/pip install -q "ziglang==0.13.0.post1"
	@touch $@

clean: stop
	rm -rf .local

# Kefu's two commands: `make dev` and `make test`. Everything they need is
# installed into the project (.venv/ for the Python tools: moto, cargo-lambda,
# cfn-lint, the gateway's and the tests' libraries).

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

.PHONY: dev test tools build lint unit e2e stack stop status tenant token clean

## dev: start the local stack, seed the demo tenant, print URLs and tokens.
dev: build stack
	@$(ADMIN) seed-demo > .local/demo.json
	@$(BIN)/python local/banner.py .local/demo.json

## test: everything CI runs: lint, unit, store and end-to-end tests.
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
	cargo fmt --all -- --check

stack: build
	@local/stack.sh start

stop:
	@local/stack.sh stop

status:
	@local/stack.sh status

## tenant: make tenant ID=acme NAME="Acme Ltd" — a tenant and its first admin.
tenant: build
	@test -n "$(ID)" -a -n "$(NAME)" || { echo 'usage: make tenant ID=acme NAME="Acme Ltd"'; exit 2; }
	@$(ADMIN) create-tenant "$(ID)" "$(NAME)"

## token: make token ID=acme AGENT=admin — a fresh token for an agent.
token: build
	@$(ADMIN) token "$(ID)" "$(AGENT)"

clean: stop
	rm -rf .local

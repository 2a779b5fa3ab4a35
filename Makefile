# The two commands a new user needs are `make demo` and `make test`; both create
# .venv and install what they need. Everything else here serves those two.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
STAMP  := $(VENV)/.installed

PROTO_DIR := proto
PROTOS    := $(wildcard $(PROTO_DIR)/hessra/v1/*.proto)
GEN_DIR   := libs/hessra_core/src
PROJECTS  := libs/hessra_core services/issuer services/policy-sync services/signer

.PHONY: setup proto proto-check lint fmt typecheck test test-unit pytest bench lock demo up clean help

help:
	@echo "make setup        create .venv and install everything (editable, pinned)"
	@echo "make test         lint, type-check, proto-check and the whole test suite"
	@echo "make demo         run the whole system locally and walk through every feature"
	@echo "make up           run the same local stack in the foreground until Ctrl-C"
	@echo "make proto        regenerate gRPC/protobuf stubs from proto/"
	@echo "make proto-check  fail if the committed stubs are stale"
	@echo "make bench        run the benchmarks (prints ratios against in-process baselines)"
	@echo "make pg-install   install the hessra_authz PostgreSQL extension (root; see deploy/postgres)"
	@echo "make node-deps    install the Node.js client test's pinned npm packages (tests/node)"

setup: $(STAMP)

$(STAMP): requirements/runtime.txt requirements/dev.txt requirements/constraints.txt $(addsuffix /pyproject.toml,$(PROJECTS))
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements/dev.txt -c requirements/constraints.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps $(addprefix -e ,$(PROJECTS))
	touch $(STAMP)

# Regenerate the stubs. grpcio-tools is pinned to the grpcio version in requirements/dev.txt;
# mypy-protobuf's plugins write the typed *_pb2.pyi and *_pb2_grpc.pyi (with the .proto comments).
PROTOC = $(PY) -m grpc_tools.protoc -I$(PROTO_DIR) \
	--plugin=protoc-gen-mypy=$(BIN)/protoc-gen-mypy --plugin=protoc-gen-mypy_grpc=$(BIN)/protoc-gen-mypy_grpc
protoc_outs = --python_out=$(1) --grpc_python_out=$(1) --mypy_out=quiet:$(1) --mypy_grpc_out=quiet:$(1)

proto: $(STAMP)
	$(PROTOC) $(call protoc_outs,$(GEN_DIR)) $(PROTOS)

proto-check: $(STAMP)
	@tmp=$$(mktemp -d) && trap 'rm -rf $$tmp' EXIT && \
	$(PROTOC) $(call protoc_outs,$$tmp) $(PROTOS) && \
	for f in $$(cd $$tmp && find hessra -type f | sort); do \
		cmp -s $$tmp/$$f $(GEN_DIR)/$$f || { echo "proto-check: $(GEN_DIR)/$$f is stale; run 'make proto'"; exit 1; }; \
	done && \
	for f in $$(cd $(GEN_DIR) && find hessra/v1 -maxdepth 1 \( -name '*_pb2*.py' -o -name '*_pb2*.pyi' \) | sort); do \
		test -f $$tmp/$$f || { echo "proto-check: $(GEN_DIR)/$$f has no .proto source; delete it"; exit 1; }; \
	done && echo "proto-check: stubs are up to date"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: $(STAMP)
	$(BIN)/mypy libs/hessra_core/src
	$(BIN)/mypy services/signer/src
	$(BIN)/mypy services/issuer/src
	$(BIN)/mypy services/policy-sync/src

# pytest exits 5 when it collects nothing; that is a failure of the suite, not a pass.
pytest: $(STAMP) node-deps
	$(BIN)/pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi; exit $$rc

test: lint typecheck proto-check pytest

# The whole system on loopback, generated into .demo/ and run by honcho (deploy/local/).
# `make demo` walks through every feature and exits 0 only if each step works; `make up`
# keeps the stack running and prints what to try. HESSRA_DEMO_PORT_BASE moves the ports
# (default 27150..27160).
demo: $(STAMP)
	$(PY) deploy/local/demo.py

up: $(STAMP)
	$(PY) deploy/local/up.py

bench: $(STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# Re-pin every transitive dependency after editing requirements/*.txt.
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet -r requirements/dev.txt
	(echo '# Every package in the dev environment, pinned. Regenerate with `make lock` after changing runtime.txt or dev.txt.'; \
	 .venv-lock/bin/pip freeze | grep -v '^-e') > requirements/constraints.txt
	rm -rf .venv-lock

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis

# PostgreSQL row-level security: the hessra_authz extension (PL/Python over hessra_core).
# pg-deps installs the Debian packages (server, PL/Python); pg-install puts the extension
# files into $(pg_config --sharedir)/extension and hessra_core into PG_PYTHON_DIR for the
# server's Python. Both need root on Debian. See README "PostgreSQL row-level security".
PG_PYTHON_DIR ?= /usr/local/lib/hessra_authz/python
.PHONY: pg-deps pg-install

pg-deps:
	deploy/postgres/apt-deps.sh

pg-install: pg-deps $(STAMP)
	$(PY) deploy/postgres/install.py --python-dir $(PG_PYTHON_DIR) $(if $(PG_CONFIG),--pg-config $(PG_CONFIG))

# The Node.js client test (tests/node) needs @grpc/grpc-js and @grpc/proto-loader, pinned in
# tests/node/package-lock.json. Installed only when node and npm exist (the test is skipped
# otherwise), and again only when the lock file changes.
NODE_STAMP := tests/node/node_modules/.installed
.PHONY: node-deps

node-deps:
	@if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory $(NODE_STAMP); \
	else echo "node-deps: node/npm not found; tests/node will be skipped"; fi

$(NODE_STAMP): tests/node/package.json tests/node/package-lock.json
	npm ci --prefix tests/node --no-audit --no-fund --ignore-scripts
	touch $(NODE_STAMP)

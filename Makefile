# The two commands of the README: `make demo` and `make test`. Each sets up what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The mini-program's DGC2 module (Node 20+): its modules come from the lock file, exactly.
JS_DGC2 := miniprogram/dgc2
JS_STAMP := $(JS_DGC2)/node_modules/.package-lock.json
# The partner SDK for Node (issue 20): openapi-typescript and tsc check it; from its lock file, exactly.
SDK_NODE := sdk/node
SDK_NODE_STAMP := $(SDK_NODE)/node_modules/.package-lock.json
# The reference mini-program's logic (issue 20), tested under Node; from its lock file, exactly.
# It links the DGC2 module above (file:../dgc2), whose own modules must be installed first.
MP_APP := miniprogram/app
MP_APP_STAMP := $(MP_APP)/node_modules/.package-lock.json

.PHONY: demo test lint openapi serve

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,gm]'
	touch $(STAMP)

$(JS_STAMP): $(JS_DGC2)/package-lock.json $(JS_DGC2)/package.json
	cd $(JS_DGC2) && npm ci --no-audit --no-fund --silent

$(SDK_NODE_STAMP): $(SDK_NODE)/package-lock.json $(SDK_NODE)/package.json
	cd $(SDK_NODE) && npm ci --no-audit --no-fund --silent

$(MP_APP_STAMP): $(MP_APP)/package-lock.json $(MP_APP)/package.json $(JS_STAMP)
	cd $(MP_APP) && npm ci --no-audit --no-fund --silent

demo: $(STAMP)
	$(BIN)/citizencard demo

test: $(STAMP) $(JS_STAMP) $(SDK_NODE_STAMP) $(MP_APP_STAMP)
	scripts/ensure-services
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 -q

lint: $(STAMP)
	$(BIN)/ruff check .

openapi: $(STAMP)
	CARD_SANDBOX=1 $(BIN)/citizencard openapi write --format=json docs/openapi.json

serve: $(STAMP)
	$(BIN)/citizencard serve

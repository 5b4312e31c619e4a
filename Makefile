# 解绑助手 — `make run` and `make test` do all of the set-up on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Rasa 3.6 needs Python 3.8–3.10; the machine's default python3 is newer.
PYTHON310 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.10.*/bin/python3.10) \
                $(shell command -v python3.10 2>/dev/null))
UV_VERSION := 0.13.9
VENV := .venv
PY := $(VENV)/bin/python
RASA := $(VENV)/bin/rasa
MODEL := models/bot.tar.gz
TRAINING_DATA := data/nlu data/rules
TRAINING_INPUTS := config.yml domain.yml data/dialect.yml data/homophones.yml $(shell find $(TRAINING_DATA) data/dictionaries \
                     data/entities -type f 2>/dev/null) $(wildcard bot/nlu/*.py)

export PYTHONPATH := $(CURDIR)
export TF_CPP_MIN_LOG_LEVEL := 2
export RASA_TELEMETRY_ENABLED := false
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
export TRACKER_STORE_URL ?= sqlite:///$(CURDIR)/var/tracker.db
export DATABASE_URL ?= sqlite:///$(CURDIR)/var/tickets.db
export ACTION_ENDPOINT_URL ?= http://127.0.0.1:5055/webhook

FRONTEND := bot/web/frontend
CHAT_JS := bot/web/chat/static/main.js
STATS_JS := bot/web/console/static/build/stats.js

.PHONY: help run test venv train migrate frontend node-deps system-deps lint validate pytest \
        conversations lock clean prod-setup run-prod loadtest bench bench-quick \
        bench-answers

help:
	@echo "make run    set up, train if needed, start the bot (Ctrl-C stops it)"
	@echo "make test   set up, train if needed, run every test"
	@echo "make lock   re-resolve requirements/lock.txt from requirements/requirements.in"

run: venv train migrate frontend
	$(PY) -m bot.launcher

test: venv train migrate frontend system-deps prod-setup lint validate pytest conversations

# --- production profile (docs/deploy.md): PostgreSQL, Redis, nginx, 2+2 replicas ----
# The embedded SQLite defaults exported above must not leak into the profile.
PROD_URLS := $(foreach v,DATABASE_URL TRACKER_STORE_URL REDIS_URL,$(if $(filter \
               environment,$(origin $(v))),$(v)=$($(v))))
PROD_RUN := env -u DATABASE_URL -u TRACKER_STORE_URL -u ACTION_ENDPOINT_URL $(PROD_URLS)

prod-setup:
	@command -v nginx >/dev/null && command -v supervisord >/dev/null || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	  apt-get install -y -qq nginx supervisor; }

run-prod: venv train frontend prod-setup
	$(PROD_RUN) $(PY) -m bot.ops.prod

# PG_RESTART=0: cut PostgreSQL's connections instead of restarting the cluster.
loadtest: venv train frontend prod-setup
	$(PROD_RUN) $(PY) -m bot.loadtest --conversations $(or $(CONVERSATIONS),200) \
	  --users $(or $(USERS),10) $(if $(filter 0,$(PG_RESTART)),,--pg-restart) \
	  $(if $(LOADTEST_DATABASE),--database $(LOADTEST_DATABASE))

# --- set-up ---------------------------------------------------------------------
venv: $(VENV)/.installed

$(VENV)/.installed: requirements/lock.txt
	@test -n "$(PYTHON310)" || { echo "Python 3.10 not found (pyenv install 3.10)"; exit 1; }
	test -x $(PY) || $(PYTHON310) -m venv $(VENV)
	$(PY) -m pip install --quiet "uv==$(UV_VERSION)"
	$(VENV)/bin/uv pip sync --quiet --python $(PY) requirements/lock.txt
	touch $@

lock:
	$(VENV)/bin/uv pip compile --quiet --generate-hashes --python-version 3.10 \
	  --python-platform x86_64-manylinux_2_28 requirements/requirements.in -o requirements/lock.txt

train: $(MODEL)

$(MODEL): $(TRAINING_INPUTS) | venv
	mkdir -p models
	$(RASA) train --data $(TRAINING_DATA) --fixed-model-name bot --out models --quiet
	touch $@

# The chat page and the console's 统计 page (Chart.js) are built from npm packages
# (package-lock.json); no CDN at run time.
frontend: $(CHAT_JS) $(STATS_JS)

# esbuild needs Node.js 18 or newer; Debian's nodejs and npm are installed when npm is missing.
NODE_MIN := 18
node-deps:
	@command -v npm >/dev/null || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	  apt-get install -y -qq nodejs npm; } || { \
	  echo "npm not found and apt-get could not install it: install Node.js $(NODE_MIN)+ and npm"; \
	  exit 1; }
	@node -e 'process.exit(+process.versions.node.split(".")[0] >= $(NODE_MIN) ? 0 : 1)' || { \
	  echo "Node.js $$(node --version) is too old to build the chat page: $(NODE_MIN)+ is needed"; \
	  exit 1; }

$(FRONTEND)/node_modules/.installed: $(FRONTEND)/package-lock.json | node-deps
	cd $(FRONTEND) && npm ci --ignore-scripts --no-audit --no-fund
	touch $@

$(CHAT_JS) $(STATS_JS) &: $(FRONTEND)/node_modules/.installed $(FRONTEND)/package.json \
            $(shell find $(FRONTEND)/src -type f 2>/dev/null)
	cd $(FRONTEND) && npm run build

# Browser tests drive Debian's chromium; a CJK font keeps Chinese readable in screenshots.
system-deps:
	@command -v chromium >/dev/null && fc-list 2>/dev/null | grep -qi wqy || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	  apt-get install -y -qq chromium fonts-wqy-microhei; }

migrate: | venv
	mkdir -p var
	$(PY) -m bot.tickets migrate

# --- measurements (docs/benchmarks.md, docs/nlu.md) -----------------------------
# The long conversation and the 统计 bench also run on PostgreSQL (BENCH_PG_URL, default the
# machine's test database; unreachable → SQLite only, and the PostgreSQL row "not measured").
bench: venv train migrate
	BENCH_PG_URL=$${BENCH_PG_URL:-postgresql://postgres@127.0.0.1:5432/test} \
	  PYTHONWARNINGS=ignore $(PY) -m bot.bench

bench-quick: venv train
	PYTHONWARNINGS=ignore $(PY) -m bot.bench --quick

# (a comma inside $(or …) would split its arguments, hence the variable)
ANSWER_SETS := hold-out,development,development-b-a,development-b-b,development-c-a,development-c-b,development-d-a,development-d-b,development-e-a,development-e-b,development-f-a,development-f-b,development-g-a,development-g-b,blind,blind-1

# Answer quality only (hold-out, development and blind sets through the running bot).
bench-answers: venv train
	PYTHONWARNINGS=ignore $(PY) -m bot.bench --answers-only --sets $(or $(SETS),$(ANSWER_SETS))

# --- checks ---------------------------------------------------------------------
lint: | venv
	$(VENV)/bin/ruff check .

validate: | venv
	$(RASA) data validate --fail-on-warnings --data $(TRAINING_DATA) --quiet

pytest: | venv
	$(VENV)/bin/pytest

conversations: $(MODEL)
	$(RASA) test core --model $(MODEL) --stories tests/conversations \
	  --fail-on-prediction-errors --out var/results/conversations --quiet

clean:
	rm -rf models var/results

# Two commands matter on a fresh machine: `make demo` (the platform with a demo catalogue) and `make test`.
# `make run` starts the platform empty; `make stop` stops one started in the background.
PYTHON ?= python3.11
# Where the platform listens: PORT=8001 make run
HOST ?= 127.0.0.1
PORT ?= 8000
# Seconds apt-get waits for another package manager's lock (unattended upgrades, a second install).
APT_LOCK_TIMEOUT ?= 600
VENV := .venv
BIN := $(VENV)/bin
REQS ?= requirements/dev.txt

.PHONY: demo run stop test worker venv assets fluidsynth compose-check clean-data

$(BIN)/.installed: requirements/*.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r $(REQS)
	$(BIN)/pip install --quiet --no-deps -r requirements/musicnn.txt
	touch $@

venv: $(BIN)/.installed

# Browser libraries from the npm registry, served by the app from node_modules (see settings).
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

assets: node_modules/.installed

# FluidSynth renders the demo catalogue's MIDI to audio; Debian's package, installed when
# this runs as root on Debian (as CI does), else named. apt-get waits for a lock another
# apt-get holds instead of failing at once.
fluidsynth:
	@ldconfig -p | grep -q libfluidsynth.so.3 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's libfluidsynth3 (FluidSynth's library, with its audio libraries and a GM soundfont) for the demo catalogue; waiting up to $(APT_LOCK_TIMEOUT) s for another apt-get..."; \
	    apt-get -o DPkg::Lock::Timeout=$(APT_LOCK_TIMEOUT) update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=$(APT_LOCK_TIMEOUT) install -y -qq --no-install-recommends libfluidsynth3 >/dev/null; \
	  else \
	    echo "The demo catalogue needs FluidSynth: sudo apt-get install libfluidsynth3 (Debian, Ubuntu)"; exit 1; \
	  fi; }

## The demo platform: as `run`, with the demo catalogue rendered, extracted (MERT when its weights
## load, else musicnn, else the classic encoder), probed and indexed, and a curator account. Re-runs reuse it all.
## HOST and PORT say where it listens; other options pass through DEMO_ARGS, e.g.
## PORT=8001 make demo DEMO_ARGS="--encoder classic".
demo: venv assets fluidsynth
	$(BIN)/python manage.py demo --host $(HOST) --port $(PORT) $(DEMO_ARGS)

## Start embedded PostgreSQL+pgvector, Redis, a Celery worker and the web server on HOST:PORT; Ctrl-C stops all.
run: venv assets
	$(BIN)/python manage.py up --host $(HOST) --port $(PORT)

## Stop the platform `make run` or `make demo` runs from this folder's data (e.g. in the background).
stop:
	$(BIN)/python manage.py stop

## The test suite, against real PostgreSQL+pgvector and Redis (embedded unless DATABASE_URL/REDIS_URL are set).
test: venv assets
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## A worker on its own (deployed setups): both queues when torch is installed, else only "default".
worker: venv
	$(BIN)/celery -A messsite worker --loglevel=INFO -Q $$($(BIN)/python -c "import importlib.util as u; print('ml,default' if u.find_spec('torch') else 'default')")

compose-check:
	docker-compose config -q

clean-data:
	rm -rf data/postgres data/redis data/media data/static data/indexes data/targets

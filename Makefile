# The two commands: `make run` (set up and start the whole stack) and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-unit lint install clean bench browser

$(STAMP): setup.cfg pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (set PYTHON=python3.x)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/dispatcher run

test: $(STAMP) browser
	$(BIN)/ruff check .
	$(BIN)/pytest $(PYTEST_ARGS)

# The unit tier alone (pure domain and protocol, no services): seconds.
test-unit: $(STAMP)
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

# The operations page is tested in a real headless Chromium, from Debian's packages.
browser:
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium and chromium-driver (Debian packages) for the browser test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      chromium chromium-driver >/dev/null; \
	  else \
	    echo "the browser test needs chromium and chromedriver: apt-get install chromium chromium-driver"; \
	    exit 1; \
	  fi; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf .run .pytest_cache

# The realistic profile runs 10 minutes; PROFILE_ARGS="--minutes 2" for a quick look.
bench: $(STAMP)
	$(BIN)/python bench/capacity_bench.py $(BENCH_ARGS)
	$(BIN)/python bench/capacity_bench.py --skip capacity --skip naive --skip latency --skip ingest --upload-rows 1000000
	$(BIN)/python bench/submit_cost.py
	$(BIN)/python bench/storage_bench.py
	$(BIN)/python bench/hopper_bench.py
	$(BIN)/python bench/consumer_bench.py
	$(BIN)/python bench/consumer_bench.py --rate 2000
	$(BIN)/python bench/multi_pbx_bench.py
	$(BIN)/python bench/profile_bench.py $(PROFILE_ARGS)

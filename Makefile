# Every target creates .venv on first use, so a fresh machine needs only python3 and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo serve-demo test chaos fuzz fuzz-parsers bench bench-scale units lint screenshots release clean stranger

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/kokreativ demo

# The demo's economy kept running for the web console on http://127.0.0.1:8765 (PORT=…), with demo
# accounts whose passwords and TOTP codes the terminal prints (README, "Die Konsole / The console").
PORT ?= 8765
serve-demo: $(STAMP)
	$(BIN)/kokreativ demo --serve --port $(PORT)

# One pytest worker per core (pytest-xdist): the server tests run once on SQLite and once on PostgreSQL.
# --dist loadfile: each test file runs whole in one worker, so its module-scoped fixtures (a browser
# page, a server with a history) are made once per run, not once per worker that gets one of its tests.
# TEST_WORKERS=0 runs in one process; KOKREATIV_ENGINES=sqlite skips the PostgreSQL half.
TEST_WORKERS ?= auto
test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

# Schemathesis against the real server with many cases per operation (the suite runs a small slice).
fuzz: $(STAMP)
	KOKREATIV_FUZZ_EXAMPLES=100 $(BIN)/python -m pytest -q -s tests/server/test_server_fuzz.py

# The reliability harness at full size (docs/operations.md, "Reliability"): 1,000 kiosk and 100 server
# SIGKILLs, 10,000 events through the chaos proxy, disk full and read-only, and the parser fuzzers with
# many more examples.  `make test` runs the same tests as a bounded slice.  CHAOS_SCALE=0.1 runs a tenth.
CHAOS_SCALE ?= 1
chaos: $(STAMP)
	rm -f chaos-report.txt
	KOKREATIV_CHAOS_SCALE=$(CHAOS_SCALE) KOKREATIV_CHAOS_REPORT=$(CURDIR)/chaos-report.txt \
		$(BIN)/python -m pytest -q tests/integration tests/protocol/test_protocol_fuzz.py \
		tests/server/test_server_hostile_inputs.py
	@cat chaos-report.txt

# Coverage-guided fuzzing of every parser with atheris (x86-64 Linux), FUZZ_RUNS inputs per target; the same
# targets as tests/protocol/test_protocol_fuzz.py.  Optional: atheris is installed here, not by `make test`.
FUZZ_RUNS ?= 20000
fuzz-parsers: $(STAMP)
	$(BIN)/pip install --quiet -e '.[fuzz]'
	@for target in $$($(BIN)/python -m tests.fuzz_atheris --list 2>/dev/null | sed 's/^targets: //'); do \
		echo "== $$target"; \
		$(BIN)/python -m tests.fuzz_atheris $$target -atheris_runs=$(FUZZ_RUNS) >.fuzz.log 2>&1 \
			|| { tail -n 40 .fuzz.log; exit 1; }; \
		grep '^Done' .fuzz.log; \
	done
	rm -f .fuzz.log

# The stranger test (docs/privacy.md) on an economy about STRANGER_SCALE times the suite's (36 volunteers,
# 4 weeks): every attack on the public material, with its figures printed.
STRANGER_SCALE ?= 3
stranger: $(STAMP)
	KOKREATIV_STRANGER_SCALE=$(STRANGER_SCALE) $(BIN)/python -m pytest -q -s -rxX tests/privacy

bench: $(STAMP)
	$(BIN)/python -m bench

# The scale bench (docs/performance.md): a synthetic economy grown to each of SCALE_SIZES log entries, with
# the ingest rate and the reads' times at each size: a table, bench-scale.json and docs/img/bench-scale.png.
# 10^6 takes about half an hour on two busy cores; SCALE_SIZES=1e4,1e5 is a few minutes.
SCALE_SIZES ?= 1e4,1e5,1e6
SCALE_ENGINES ?= sqlite,postgresql
bench-scale: $(STAMP)
	$(BIN)/python -m bench.scale --sizes $(SCALE_SIZES) --engines $(SCALE_ENGINES) \
		--json bench-scale.json --plot docs/img/bench-scale.png

# Each systemd unit's sandbox exposure score (systemd-analyze security; 0 = locked down, 10 = none).
units:
	@for unit in systemd/*.service; do \
		systemd-analyze security --offline=true --no-pager "$$unit" | tail -n 1; \
	done

# Renders every kiosk screen (check-in and shop till) offscreen and keeps the German set in docs/img/ui, and
# every web console page of the demo's economy (server.web.nav.NAV, login, account, public pages) in Chromium
# into docs/img/web (commit them).
screenshots: $(STAMP)
	KOKREATIV_SCREENSHOTS=docs/img/ui $(BIN)/python -m pytest -q tests/terminal/ui/test_ui_app.py \
		tests/terminal/ui/test_ui_shop_screens.py -k every_screen
	KOKREATIV_WEB_SCREENSHOTS=docs/img/web $(BIN)/python -m pytest -q tests/web/test_web_screenshots*.py

# The tarball a kiosk installs from (deploy/install-kiosk.sh), of the committed HEAD, in dist/.
release:
	deploy/make-release.sh dist

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy protocol hardware terminal server provisioning kokreativ
	$(BIN)/lint-imports --no-cache

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# The route × access table in docs/architecture.md, from the routes' own access declarations.
.PHONY: routes
routes: $(STAMP)
	$(BIN)/python -m server.http.table --write docs/architecture.md

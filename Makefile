# The README's two commands. scripts/setup.sh installs whatever is missing (see its --help).
.PHONY: demo test setup fuzz

VENV := .venv/bin
log = @printf '%s ==> %s\n' "$$(date +%H:%M:%S)" $(1)

## make demo: set up, migrate, load the demo city unless one is loaded, serve http://127.0.0.1:5000
demo: setup
	$(call log,'migrating the database')
	$(VENV)/minqing db upgrade
	$(call log,'loading the demo city (skipped when one is loaded)')
	$(VENV)/minqing demo --scale demo --as-of now --if-empty
	$(call log,'serving http://127.0.0.1:5000 (Ctrl-C stops)')
	$(VENV)/minqing serve

## make test: set up, then pytest on fresh databases; extra arguments in PYTEST_ARGS
# pytest's own exit code fails the target, including 5 when no test was collected.
test: setup
	$(call log,'running the tests')
	$(VENV)/pytest $(PYTEST_ARGS)

setup:
	@bash scripts/setup.sh

## make fuzz: schemathesis against /openapi.json as every role, 200 examples per operation (long; two processes)
fuzz: setup
	$(call log,'fuzzing the API: 200 examples per operation and role')
	MINQING_FUZZ_EXAMPLES=200 MINQING_FUZZ_SHARD=0/2 $(VENV)/pytest -p no:cacheprovider -q tests/test_fuzz.py $(PYTEST_ARGS) & \
	MINQING_FUZZ_EXAMPLES=200 MINQING_FUZZ_SHARD=1/2 $(VENV)/pytest -p no:cacheprovider -q tests/test_fuzz.py $(PYTEST_ARGS); \
	second=$$?; wait $$!; first=$$?; test $$first -eq 0 && test $$second -eq 0

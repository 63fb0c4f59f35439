# The two commands of a fresh machine: `make demo` and `make test`. Each creates .venv when needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-all install clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-cache-dir -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The main job on the built-in data: generate `small`, train the samplers, benchmark every selector
# with the shipped trimmed-clip classifier, print the comparison and write 3 videos' report (runs/demo/).
demo: $(STAMP)
	$(VENV)/bin/scsampler demo --out runs/demo

# Fast tests and the slow ones: the whole suite stays under 15 minutes on 2 cores.
test: $(STAMP)
	$(PY) -m pytest -q

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

clean:
	rm -rf runs build *.egg-info .pytest_cache

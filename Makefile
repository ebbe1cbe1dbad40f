# Two commands on a fresh machine:
#   make demo   set everything up, start the local servers, rotate real keys, stop the servers
#   make test   the whole suite: unit, bench, end-to-end, ansible-test sanity, ansible-lint, molecule
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
COLLECTIONS := $(CURDIR)/.build/collections
COLLECTION := $(COLLECTIONS)/ansible_collections/apikeys/rotation
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export PATH := $(BIN):$(PATH)

.PHONY: setup link bytecode tools awx demo test unit e2e sanity lint molecule bench clean

$(VENV)/.installed: requirements.txt requirements-test.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-test.txt
	touch $@

# The collection must sit at .../ansible_collections/apikeys/rotation: a symlink to this checkout.
link:
	mkdir -p $(dir $(COLLECTION))
	ln -sfn $(CURDIR) $(COLLECTION)

# The byte code of the collection's Python, as pip compiles a package it installs (checked-hash .pyc: Python checks
# each against its source's hash, so an edited file never runs stale). ansible-core loads plugin files (action,
# filter, strategy) with importlib, and plugin_utils/_preload.py the modules they need, both of which use it; without
# it, with PYTHONDONTWRITEBYTECODE set or an install the user cannot write to, every run compiles them (docs/speed.md).
bytecode: $(VENV)/.installed
	$(BIN)/python -m compileall -q --invalidation-mode checked-hash $(CURDIR)/plugins

setup: $(VENV)/.installed link bytecode

# What the tests need that PyPI does not ship, from Debian's packages: Prometheus (evidence
# tests), shellcheck (ansible-test sanity lints the shell scripts with it) and cron (tests/e2e/test_cron.py;
# its installer starts no daemon, the test starts one).
tools:
	bash tests/bench/install_prometheus.sh
	bash tests/bench/install_cron.sh
	command -v shellcheck >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck \
	  || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck)

# The awx.awx collection, for the checks of the AWX configuration playbook (syntax-check, ansible-lint):
# unpacked from PyPI's ansible wheel into .build/collections (tests/awx/awx_collection.py; once).
awx: setup
	$(BIN)/python -m tests.awx.awx_collection

demo: setup
	$(BIN)/python -m tests.bench.demo

test: setup tools awx
	$(MAKE) --no-print-directory unit e2e sanity lint molecule
	@echo "make test: 5 passed, 0 failed"

unit: setup tools awx
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/unit tests/bench_tests

e2e: setup tools awx
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/e2e

# ansible-test wants the real path to end in ansible_collections/apikeys/rotation, outside any
# other git work tree (it would list files with that tree's git): test a copy under /tmp.
SANITY_COPY := $(or $(TMPDIR),/tmp)/apikeys-rotation-sanity/ansible_collections/apikeys/rotation
sanity: setup tools
	$(BIN)/python tests/sanity/prepare.py
	rm -rf $(SANITY_COPY) && mkdir -p $(SANITY_COPY)
	git ls-files -z --cached --others --exclude-standard | tar -cf - --null -T - | tar -xf - -C $(SANITY_COPY)
	cd $(SANITY_COPY) && $(BIN)/ansible-test sanity --python 3.11 --venv --color no

# ansible-lint (production profile), then the changelog: fragments (changelogs/fragments/) and changelog.yaml.
lint: setup awx
	$(BIN)/ansible-lint --offline
	$(BIN)/antsibull-changelog lint
	$(BIN)/antsibull-changelog lint-changelog-yaml --strict changelogs/changelog.yaml

molecule: setup
	tests/molecule.sh

# Issue 13's fleet measures against their floors, on the committed HEAD (docs/speed.md; ~8 minutes)
bench: setup
	$(BIN)/python benchmarks/fleet.py --at HEAD --sizes 100,1000 --runs 3

clean:
	rm -rf .build tests/output

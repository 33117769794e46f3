# lossgrad-ops: the two commands of the README, and a few developer targets.
#   make demo   - set up .venv (build + install) and run the main example
#   make test   - set up .venv if needed and run the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
NATIVE_SOURCES := $(wildcard framework/csrc/*.cc framework/csrc/*/*.cc framework/csrc/*/*.h framework/ascend/*/*.h framework/ascend/*/*.cc framework/ascend/*/*.cpp framework/ascend/*/*/*.h framework/ascend/*/*/*.cc framework/ascend/*/*/*/*.h framework/ascend/*/*/*/*/*.h) framework/definitions.py framework/_codegen.py setup.py setup.cfg

.PHONY: demo test setup bench asan clean

setup: $(VENV)/.installed

$(VENV)/.installed: $(NATIVE_SOURCES)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $@

demo: setup
	$(PY) examples/train_and_export.py

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) benchmarks/bench_kernels.py

# Build the native libraries with AddressSanitizer + UBSan, run the tests that drive
# them in-process, then rebuild normally (--force: the sources did not change).
SANITIZED_TESTS := tests/test_kernels.py tests/test_errors.py tests/test_numpy_face.py tests/test_threads.py $(wildcard tests/test_onnx_*.py tests/test_ascend_*.py)
asan: setup
	LOSSGRAD_SANITIZE=1 $(PY) setup.py -q build_ext --inplace --force
	LD_PRELOAD="$$(g++ -print-file-name=libasan.so) $$(g++ -print-file-name=libubsan.so)" \
	  ASAN_OPTIONS=detect_leaks=0 $(PY) -m pytest -q -p no:cacheprovider $(SANITIZED_TESTS)
	$(PY) setup.py -q build_ext --inplace --force

clean:
	rm -rf build *.egg-info framework/*.so framework/csrc/lossgrad/generated_defs.h

# lossgrad-ops: the two commands of the README, and a few developer targets.
#   make demo        set up .venv (build + install the package with all extras) and run the main example
#   make test        set up .venv if needed, build the test-only Ascend stand-in, run the test suite
#   make bench       kernel benchmark            make msrun-demo   data-parallel example under msrun
#   make asan        sanitizer build + in-process tests, then the normal build again
#   make lint        check that no generic file names an op
#   make ascend-table  regenerate the committed Ascend op table after changing an op declaration
#   make dist        sdist and wheel into dist/  make clean / make distclean (also removes .venv)
#   make aarch64-check  cross-build the kernel library for aarch64, compare its result bits under qemu
# The package is installed non-editable into .venv (tests run what a user gets); the CMake build
# directory build/dev persists, so a reinstall after a change recompiles only what changed.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
CMAKE := $(VENV)/bin/cmake
BUILD_TOOLS := "scikit-build-core>=0.11" "cmake>=3.18" ninja build
PIP_INSTALL := $(PY) -m pip install --quiet --no-build-isolation
SIM_DIR := build/ascend-sim
SIM_LIB := $(SIM_DIR)/_lossgrad_ascend_sim.so

# what framework/_codegen.py reads: the public table, the shared rules, the registry, the op families
DEFINITIONS := framework/definitions.py framework/rules.py framework/registry.py $(wildcard framework/families/*.py)
NATIVE_SOURCES := $(wildcard framework/csrc/*.cc framework/csrc/*/*.cc framework/csrc/*/*.h) \
  framework/ascend/op_host/lossgrad_shape.h \
  $(DEFINITIONS) framework/_codegen.py CMakeLists.txt tools/ort_headers.py tools/check_isa_objects.cmake
PACKAGE_SOURCES := $(NATIVE_SOURCES) $(wildcard src/lossgrad_ops/* framework/*.py ms_ops/*.py onnx_ops/*.py) \
  pyproject.toml README.md LICENSE
ASCEND_SOURCES := $(shell find framework/ascend -name '*.h' -o -name '*.cc' -o -name '*.cpp' 2>/dev/null)

.PHONY: demo test setup bench msrun-demo asan lint ascend-table aarch64-check dist clean distclean

setup: $(VENV)/.installed

$(VENV)/.tools:
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(BUILD_TOOLS)
	@touch $@

$(VENV)/.installed: $(VENV)/.tools $(PACKAGE_SOURCES)
	$(PIP_INSTALL) -C build-dir=build/dev '.[test]'
	@cd /tmp && $(abspath $(PY)) -c "import lossgrad_ops, lossgrad_ops.onnx_ops as o; \
	  print('lossgrad-ops', lossgrad_ops.__version__, 'installed; onnxruntime library:', o.native_status())"
	@touch $@

$(SIM_LIB): $(VENV)/.tools $(ASCEND_SOURCES) $(DEFINITIONS) framework/_codegen.py CMakeLists.txt
	@mkdir -p $(SIM_DIR)
	$(CMAKE) -S . -B $(SIM_DIR) -G Ninja -DCMAKE_MAKE_PROGRAM=$(abspath $(VENV)/bin/ninja) \
	  -DPython_EXECUTABLE=$(abspath $(PY)) -DLOSSGRAD_PYTHON_LIBS=OFF -DLOSSGRAD_ASCEND_SIM=ON \
	  $(SIM_CMAKE_ARGS) > $(SIM_DIR)/configure.log || (cat $(SIM_DIR)/configure.log; false)
	$(CMAKE) --build $(SIM_DIR)

demo: setup
	$(PY) examples/train_and_export.py

test: setup $(SIM_LIB)
	LOSSGRAD_ASCEND_SIM_LIB=$(abspath $(SIM_LIB)) $(PY) -m pytest -q

# The generic machinery names no op (a source-text lint, not a test: see tools/check_generic.py).
lint: setup
	$(PY) tools/check_generic.py

# framework/ascend/op_host/lossgrad_ops_table.h is generated but committed (CANN builds the package
# without the generator); tests/test_ascend_defs.py fails while it is stale.
ascend-table:
	$(PYTHON) framework/_codegen.py --ascend-table framework/ascend/op_host/lossgrad_ops_table.h

bench: setup
	$(PY) benchmarks/bench_kernels.py

msrun-demo: setup
	PATH=$(abspath $(VENV)/bin):$$PATH $(VENV)/bin/msrun --worker_num=2 --local_worker_num=2 \
	  --master_port=8118 --log_dir=runs/dp_logs --join=True examples/data_parallel.py --out runs/dp

# Build the native libraries with AddressSanitizer + UBSan (separate build directories), run the
# tests that drive them in-process (and tests/test_isa.py, whose children inherit the sanitizers and
# run every instruction-set level), then reinstall the normal build (build/dev is untouched).
SANITIZED_TESTS := tests/test_kernels.py tests/test_errors.py tests/test_numpy_face.py tests/test_call_caches.py tests/test_threads.py tests/test_native_core.py tests/test_isa.py $(wildcard tests/test_onnx_*.py tests/test_ascend_*.py)
asan: setup
	$(PIP_INSTALL) --no-deps --force-reinstall -C build-dir=build/asan -C cmake.build-type=Debug \
	  -C install.strip=false -C cmake.define.LOSSGRAD_SANITIZE=ON .
	$(MAKE) --no-print-directory $(SIM_DIR)-asan/_lossgrad_ascend_sim.so SIM_DIR=$(SIM_DIR)-asan \
	  SIM_CMAKE_ARGS="-DCMAKE_BUILD_TYPE=Debug -DLOSSGRAD_SANITIZE=ON"
	LD_PRELOAD="$$(g++ -print-file-name=libasan.so) $$(g++ -print-file-name=libubsan.so)" \
	  ASAN_OPTIONS=detect_leaks=0 LOSSGRAD_ASCEND_SIM_LIB=$(abspath $(SIM_DIR)-asan/_lossgrad_ascend_sim.so) \
	  $(PY) -m pytest -q -p no:cacheprovider $(SANITIZED_TESTS); status=$$?; \
	  $(PIP_INSTALL) --no-deps --force-reinstall -C build-dir=build/dev . && exit $$status

# The native kernel library cross-built for aarch64 (Kunpeng hosts) computes the same bits as on
# this x86_64 machine: tools/check_aarch64.sh (needs g++-aarch64-linux-gnu and qemu-user; not part of `make test`).
aarch64-check: $(VENV)/.tools
	CMAKE=$(abspath $(CMAKE)) NINJA=$(abspath $(VENV)/bin/ninja) PYTHON=$(abspath $(PY)) tools/check_aarch64.sh

dist: $(VENV)/.tools
	$(PY) -m build --sdist --outdir dist .
	$(PY) -m pip wheel --no-deps --wheel-dir dist .

# Build outputs and the install stamp; .venv itself (with its downloaded dependencies) stays, so
# the next `make demo` rebuilds and reinstalls the package without downloading again.
clean:
	rm -rf build dist *.egg-info $(VENV)/.installed framework/*.so ms_ops/*.so onnx_ops/*.so \
	  framework/csrc/lossgrad/generated_defs.h framework/csrc/lossgrad/generated_families.h .pytest_cache .hypothesis
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)

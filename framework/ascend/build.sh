#!/usr/bin/env bash
# Build and package the lossgrad Ascend C op package (the lossgrad ops of
# op_host/lossgrad_ops_table.h, vendor "lossgrad") with the CANN toolkit,
# producing a custom_opp_*.run.
#
#   source /usr/local/Ascend/ascend-toolkit/set_env.sh   # or <cann>/set_env.sh
#   framework/ascend/build.sh [--soc ascend910b] [--out DIR] [--flow auto|cmake|msopgen] [--jobs N]
#
# Two ways to build, chosen automatically (--flow forces one):
#  * cmake:   toolkits that ship the ASC CMake modules
#             ($ASCEND_HOME_PATH/compiler/tikcpp/ascendc_kernel_cmake): this
#             directory's CMakeLists.txt is configured directly;
#  * msopgen: older toolkits: msOpGen generates a fresh project from the op
#             prototypes (lossgrad_ops.json, generated here from the op
#             declarations by framework/_codegen.py --ascend-json, so this flow
#             needs python3 and the repository), our op_host / op_kernel / onnx_plugin sources
#             replace its templates, the vendor name is set in its
#             CMakePresets.json, and its own build.sh builds the package.
#
# Install afterwards (see README.md):
#   ./custom_opp_*.run --install-path=$HOME/lossgrad_opp
#   source $HOME/lossgrad_opp/vendors/lossgrad/bin/set_env.bash   # adds it to ASCEND_CUSTOM_OPP_PATH
#
# Without a CANN toolkit this script says what it needs and exits with status 2.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENDOR="lossgrad"
SOC="${LOSSGRAD_SOC:-ascend910b}"
OUT="${HERE}/build_out"
FLOW="auto"
JOBS="$(nproc 2>/dev/null || echo 4)"

usage() {
  sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
  case "$1" in
    --soc) SOC="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --flow) FLOW="$2"; shift 2 ;;
    --jobs) JOBS="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "build.sh: unknown argument '$1' (see --help)" >&2; exit 64 ;;
  esac
done

case "$FLOW" in auto|cmake|msopgen) ;; *) echo "build.sh: --flow must be auto, cmake or msopgen" >&2; exit 64 ;; esac

# ---- what the build needs ----------------------------------------------------
missing=()
if [ -z "${ASCEND_HOME_PATH:-}" ]; then
  missing+=("a CANN toolkit (8.0 or later, with the Ascend C compiler): ASCEND_HOME_PATH is not set; install Ascend-cann-toolkit and run 'source /usr/local/Ascend/ascend-toolkit/set_env.sh' (CANN 9: '<install dir>/cann/set_env.sh')")
elif [ ! -d "${ASCEND_HOME_PATH}" ]; then
  missing+=("ASCEND_HOME_PATH=${ASCEND_HOME_PATH} is not a directory")
fi
command -v cmake >/dev/null 2>&1 || missing+=("cmake 3.16 or later (3.19+ to use CMakePresets.json directly)")
command -v python3 >/dev/null 2>&1 || missing+=("python3 (CANN's build scripts and msOpGen run on it)")
command -v g++ >/dev/null 2>&1 || command -v c++ >/dev/null 2>&1 || missing+=("a host C++17 compiler (g++ 7.5+)")
if [ ${#missing[@]} -gt 0 ]; then
  {
    echo "build.sh: cannot build the lossgrad Ascend op package; missing:"
    for m in "${missing[@]}"; do echo "  - $m"; done
    echo "Nothing was built. The CPU verification of the tiling and kernel logic does not need CANN:"
    echo "  make test   (from the repository root; builds the CPU stand-in into build/ascend-sim and runs the tests)"
  } >&2
  exit 2
fi

ASC_CMAKE_DIR="${ASCEND_HOME_PATH}/compiler/tikcpp/ascendc_kernel_cmake"
has_asc_modules() {
  [ -f "${ASC_CMAKE_DIR}/ASCConfig.cmake" ] || [ -f "${ASC_CMAKE_DIR}/asc-config.cmake" ]
}
if [ "$FLOW" = "auto" ]; then
  if has_asc_modules; then FLOW="cmake"; else FLOW="msopgen"; fi
fi
echo "build.sh: CANN at ${ASCEND_HOME_PATH}; flow ${FLOW}; AI processor(s) ${SOC}; output ${OUT}"
mkdir -p "${OUT}"

if [ "$FLOW" = "cmake" ]; then
  if ! has_asc_modules; then
    echo "build.sh: --flow cmake needs the ASC CMake modules in ${ASC_CMAKE_DIR}; use --flow msopgen" >&2
    exit 2
  fi
  cmake -S "${HERE}" -B "${OUT}" \
    -DCMAKE_BUILD_TYPE=Release \
    -DASCEND_CANN_PACKAGE_PATH="${ASCEND_HOME_PATH}" \
    -Dvendor_name="${VENDOR}" \
    -DASCEND_COMPUTE_UNIT="${SOC}"
  cmake --build "${OUT}" --target binary package -j "${JOBS}"
  RUN_DIR="${OUT}"
else
  MSOPGEN="$(command -v msopgen || true)"
  if [ -z "$MSOPGEN" ] && [ -x "${ASCEND_HOME_PATH}/python/site-packages/bin/msopgen" ]; then
    MSOPGEN="${ASCEND_HOME_PATH}/python/site-packages/bin/msopgen"
  fi
  if [ -z "$MSOPGEN" ]; then
    echo "build.sh: msOpGen not found (it ships with the CANN toolkit; is set_env.sh sourced?)" >&2
    exit 2
  fi
  STAGE="${OUT}/msopgen_project"
  rm -rf "${STAGE}"
  FIRST_SOC="${SOC%%;*}"
  mkdir -p "${OUT}"
  python3 "${HERE}/../_codegen.py" --ascend-json "${OUT}/lossgrad_ops.json" >/dev/null
  "$MSOPGEN" gen -i "${OUT}/lossgrad_ops.json" -f onnx -c "ai_core-${FIRST_SOC}" -lan cpp -out "${STAGE}"
  # Replace the generated templates by our sources (same relative layout).
  rm -f "${STAGE}"/op_host/*.cpp "${STAGE}"/op_host/*.h "${STAGE}"/op_kernel/*.cpp "${STAGE}"/op_kernel/*.h
  mkdir -p "${STAGE}/framework/onnx_plugin"
  rm -f "${STAGE}"/framework/onnx_plugin/*.cc "${STAGE}"/framework/onnx_plugin/*.h
  cp "${HERE}"/op_host/*.cpp "${HERE}"/op_host/*.h "${STAGE}/op_host/"
  cp "${HERE}"/op_kernel/*.cpp "${HERE}"/op_kernel/*.h "${STAGE}/op_kernel/"
  rm -rf "${STAGE}/op_kernel/families" && cp -r "${HERE}/op_kernel/families" "${STAGE}/op_kernel/"
  cp "${HERE}"/framework/onnx_plugin/*.cc "${HERE}"/framework/onnx_plugin/*.h "${STAGE}/framework/onnx_plugin/"
  python3 - "${STAGE}/CMakePresets.json" "${VENDOR}" "${SOC}" "${ASCEND_HOME_PATH}" <<'PY'
import json, sys
path, vendor, soc, cann = sys.argv[1:5]
with open(path) as f:
    presets = json.load(f)
for preset in presets.get("configurePresets", []):
    cache = preset.setdefault("cacheVariables", {})
    cache["vendor_name"] = {"type": "STRING", "value": vendor}
    cache["ASCEND_COMPUTE_UNIT"] = {"type": "STRING", "value": soc}
    cache["ASCEND_CANN_PACKAGE_PATH"] = {"type": "PATH", "value": cann}
with open(path, "w") as f:
    json.dump(presets, f, indent=2)
PY
  (cd "${STAGE}" && bash ./build.sh)
  RUN_DIR="${STAGE}/build_out"
fi

shopt -s nullglob
runs=("${RUN_DIR}"/custom_opp_*.run)
if [ ${#runs[@]} -eq 0 ]; then
  echo "build.sh: the build finished but no custom_opp_*.run was found in ${RUN_DIR}" >&2
  exit 1
fi
if [ "${RUN_DIR}" != "${OUT}" ]; then
  cp "${runs[@]}" "${OUT}/"
fi
echo "build.sh: built ${OUT}/$(basename "${runs[0]}") (vendor ${VENDOR})"
echo "Install:  ${OUT}/$(basename "${runs[0]}") --install-path=\$HOME/lossgrad_opp"
echo "          source \$HOME/lossgrad_opp/vendors/${VENDOR}/bin/set_env.bash"
echo "      or  ${OUT}/$(basename "${runs[0]}")   (into \$ASCEND_OPP_PATH/vendors/${VENDOR})"

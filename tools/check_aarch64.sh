#!/usr/bin/env bash
# Usage: tools/check_aarch64.sh        (from the project root; `make aarch64-check` runs it)
#
# Checks that the native CPU kernel library computes the same bits on aarch64 (the Kunpeng hosts
# of Ascend servers) as on this x86_64 machine: builds _lossgrad_native.so (the C ABI that
# framework/cpu.py loads) natively and cross-compiled for aarch64, runs the deterministic battery
# tools/abi_battery.cc against each (natively at several ISA levels and thread counts, and the
# aarch64 build under qemu-user), and compares every case's output digest with the x86_64
# baseline run. Exits nonzero on a build failure, a failed case, or any mismatch.
#
# Needs an x86_64 Linux host with g++, the aarch64 cross compiler and qemu-user (Debian:
# apt-get install g++-aarch64-linux-gnu qemu-user), cmake >= 3.18 and ninja (.venv/bin or PATH).
# Build directory: build/aarch64 (wiped at the start, kept afterwards for inspection).
# Environment: CMAKE, NINJA, PYTHON (runs framework/_codegen.py), AARCH64_SYSROOT (qemu's -L, default
# /usr/aarch64-linux-gnu). The onnxruntime header download is disabled (LOSSGRAD_ORT_FETCH=0).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=build/aarch64
SYSROOT=${AARCH64_SYSROOT:-/usr/aarch64-linux-gnu}
pick() { if [[ -x .venv/bin/$1 ]]; then echo "$ROOT/.venv/bin/$1"; else command -v "$2" || true; fi; }
CMAKE=${CMAKE:-$(pick cmake cmake)}
NINJA=${NINJA:-$(pick ninja ninja)}
PYTHON=${PYTHON:-$(pick python python3)}
step() { printf '\n== %s\n' "$*"; }
die() { printf 'check_aarch64: %s\n' "$*" >&2; exit 1; }

for tool in g++ aarch64-linux-gnu-g++ qemu-aarch64 "$CMAKE" "$NINJA" "$PYTHON"; do
  [[ -n $tool ]] && command -v "$tool" > /dev/null ||
    die "missing ${tool:-cmake/ninja/python} (apt-get install g++-aarch64-linux-gnu qemu-user; make setup)"
done
[[ $(uname -m) == x86_64 ]] || die "run this on an x86_64 host (on aarch64, run tools/abi_battery.cc natively)"
[[ -d $SYSROOT/lib ]] || die "no aarch64 sysroot at $SYSROOT (set AARCH64_SYSROOT)"

start=$SECONDS
rm -rf "$OUT"
mkdir -p "$OUT"
BATTERY_FLAGS=(-std=c++17 -O2 -Wall -Wextra -Wshadow -ffp-contract=off)

build() {  # build <name> <c++ compiler> [cmake args...]: the C ABI library and the battery
  local name=$1 cxx=$2 dir=$OUT/$1
  shift 2
  step "building $name ($cxx)"
  LOSSGRAD_ORT_FETCH=0 "$CMAKE" -S . -B "$dir" -G Ninja -DCMAKE_MAKE_PROGRAM="$NINJA" \
    -DPython_EXECUTABLE="$PYTHON" -DCMAKE_BUILD_TYPE=Release "$@" > "$dir.configure.log" 2>&1 ||
    { cat "$dir.configure.log"; die "configuring $name failed"; }
  "$CMAKE" --build "$dir" --target lossgrad_native > "$dir.build.log" 2>&1 ||
    { cat "$dir.build.log"; die "building $name failed"; }
  "$cxx" "${BATTERY_FLAGS[@]}" -I framework/csrc -I "$dir/generated" -o "$dir/abi_battery" tools/abi_battery.cc -ldl >> "$dir.build.log" 2>&1 ||
    { cat "$dir.build.log"; die "compiling the battery for $name failed"; }
  local warnings
  warnings=$(grep -c -i 'warning' "$dir.build.log" || true)
  echo "built $dir/_lossgrad_native.so ($(readelf -h "$dir/_lossgrad_native.so" | sed -n 's/ *Machine: *//p'));" \
    "$warnings warning line(s)"
  grep -i -A3 'warning' "$dir.build.log" || true
}
build x86_64 g++
build aarch64 aarch64-linux-gnu-g++ -DCMAKE_TOOLCHAIN_FILE="$ROOT/tools/aarch64-linux-gnu.cmake"

# name | environment | launcher: the first run is the reference
RUNS=(
  "x86_64-baseline-1thread|LOSSGRAD_ISA=baseline LOSSGRAD_NUM_THREADS=1|"
  "x86_64-avx2-3threads|LOSSGRAD_ISA=avx2 LOSSGRAD_NUM_THREADS=3 LOSSGRAD_PARALLEL_THRESHOLD=1000|"
  "x86_64-best-4threads|LOSSGRAD_NUM_THREADS=4 LOSSGRAD_PARALLEL_THRESHOLD=0|"
  "aarch64-1thread|LOSSGRAD_NUM_THREADS=1|qemu-aarch64 -L $SYSROOT"
  "aarch64-3threads|LOSSGRAD_NUM_THREADS=3 LOSSGRAD_PARALLEL_THRESHOLD=1000|qemu-aarch64 -L $SYSROOT"
)
run() {  # run <name> <env> <launcher> [--dump K]: the battery's lines into $OUT/<name>.txt or stdout
  local name=$1 envs=$2 launcher=$3 arch=${1%%-*}
  shift 3
  # shellcheck disable=SC2086  # word splitting of the environment and launcher is intended
  env $envs $launcher "$OUT/$arch/abi_battery" "$OUT/$arch/_lossgrad_native.so" "$@"
}

failed=0
ref=""
for spec in "${RUNS[@]}"; do
  IFS='|' read -r name envs launcher <<< "$spec"
  step "running the battery: $name${launcher:+ (under $launcher)}"
  t0=$SECONDS
  if ! run "$name" "$envs" "$launcher" > "$OUT/$name.txt"; then
    grep -E 'ERROR|NONCANONICAL|DIRECT-MISMATCH' "$OUT/$name.txt" | head -20 || true
    echo "FAIL: $name: the battery reported failed cases"
    failed=1
  fi
  echo "$(tail -1 "$OUT/$name.txt") ($((SECONDS - t0)) s)"
  if [[ -z $ref ]]; then ref=$name; ref_envs=$envs; continue; fi
  if cmp -s "$OUT/$ref.txt" "$OUT/$name.txt"; then
    echo "same bits as $ref"
    continue
  fi
  failed=1
  mapfile -t bad < <(diff "$OUT/$ref.txt" "$OUT/$name.txt" | sed -n 's/^> \([0-9]\{5\}\) .*/\1/p')
  echo "MISMATCH: ${#bad[@]} case(s) differ from $ref:"
  diff "$OUT/$ref.txt" "$OUT/$name.txt" | grep '^[<>] [0-9]' | head -20 || true
  for k in "${bad[@]:0:3}"; do  # the first differing elements of the first few cases
    echo "case $k, first differing elements (index, $ref bits, $name bits):"
    paste -d' ' <(run "$ref" "$ref_envs" "" --dump "$((10#$k))" 2> /dev/null) \
      <(run "$name" "$envs" "$launcher" --dump "$((10#$k))" 2> /dev/null) | awk '$2 != $4 {print $1, $2, $4}' |
      head -5 || true
  done
done

step "summary ($((SECONDS - start)) s; outputs in $OUT)"
if [[ $failed -ne 0 ]]; then
  echo "FAILED: see the mismatches above"
  exit 1
fi
echo "OK: $(tail -1 "$OUT/$ref.txt" | cut -d' ' -f1) with the same bits in all ${#RUNS[@]} runs" \
  "(x86_64 ISA levels and thread counts, aarch64 under qemu)"

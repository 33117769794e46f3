#!/bin/sh
# fetch_ort_headers.sh DEST
#
# Build-time helper of lossgrad-ops (called by setup.py's ort_extension() when
# no onnxruntime C/C++ API headers are installed; the onnxruntime pip wheel
# ships none). The headers are never copied into the repository.
#
# Download Debian's libonnxruntime-dev (.deb) with a *private* apt
# configuration (nothing under /etc/apt, /var/lib/apt or /var/cache/apt is
# read for sources or written) and extract only the C/C++ headers into
#   DEST/include/onnxruntime/*.h      (flat: -IDEST/include/onnxruntime)
#
# Idempotent: if the headers are already there, it does nothing
# (set ORT_HEADERS_FORCE=1 to re-fetch).
#
# Environment knobs:
#   ORT_DEB_MIRROR   Debian mirror (default: first http(s) deb.debian.org-style
#                    URI found in /etc/apt/sources.list*, else
#                    http://deb.debian.org/debian)
#   ORT_DEB_SUITES   suites to try in order (default: "trixie sid")
#   ORT_HEADERS_FORCE=1  re-download even if headers exist
set -eu

say() { printf '[lossgrad-ops fetch_ort_headers] %s\n' "$*" >&2; }
die() { printf '[lossgrad-ops fetch_ort_headers] ERROR: %s\n' "$*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: $0 DEST   (headers go to DEST/include/onnxruntime/)"
DEST=$1
INC="$DEST/include/onnxruntime"

if [ -f "$INC/onnxruntime_c_api.h" ] && [ -f "$INC/onnxruntime_lite_custom_op.h" ] \
   && [ "${ORT_HEADERS_FORCE:-0}" != 1 ]; then
    say "headers already present in $INC ($(cat "$INC/.source" 2>/dev/null || echo 'unknown source')); nothing to do"
    exit 0
fi

for tool in apt-get dpkg-deb dpkg; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found (needs a Debian/Ubuntu system)"
done

# --- pick the mirror this machine already uses for Debian -----------------
MIRROR=${ORT_DEB_MIRROR:-}
if [ -z "$MIRROR" ]; then
    MIRROR=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources \
                 /etc/apt/sources.list.d/*.list 2>/dev/null \
             | grep -v '^[[:space:]]*#' \
             | grep -oE '(https?)://[^ ]+/debian/?' \
             | grep -v -- '-security' | head -n 1 || true)
    MIRROR=${MIRROR%/}
    [ -n "$MIRROR" ] || MIRROR=http://deb.debian.org/debian
fi
SUITES=${ORT_DEB_SUITES:-"trixie sid"}
ARCH=$(dpkg --print-architecture)
say "mirror: $MIRROR   suites to try: $SUITES   arch: $ARCH"

# Keyrings: bookworm's debian-archive-keyring already carries the trixie keys,
# and sid is signed with the same keys as trixie.
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
[ -r "$KEYRING" ] || die "$KEYRING missing (install debian-archive-keyring)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ort-hdr.XXXXXX")
trap 'rm -rf "$WORK"' EXIT INT TERM

fetch_from_suite() {
    suite=$1
    root="$WORK/$suite"
    mkdir -p "$root/etc/preferences.d" "$root/state/lists/partial" \
             "$root/cache/archives/partial" "$root/dl"
    : > "$root/state/status"
    printf 'deb [signed-by=%s] %s %s main\n' "$KEYRING" "$MIRROR" "$suite" \
        > "$root/etc/sources.list"
    # Private apt: own sources, own lists/cache/status, no system sources.list.d,
    # only the binary Packages index (no Translations / Contents / dep11 ...).
    set -- \
        -o Dir::Etc::sourcelist="$root/etc/sources.list" \
        -o Dir::Etc::sourceparts=- \
        -o Dir::Etc::preferences="$root/etc/preferences" \
        -o Dir::Etc::preferencesparts="$root/etc/preferences.d" \
        -o Dir::State="$root/state" \
        -o Dir::State::status="$root/state/status" \
        -o Dir::Cache="$root/cache" \
        -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= \
        -o APT::Architecture="$ARCH" -o APT::Architectures="$ARCH" \
        -o Acquire::Languages=none \
        -o Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled=false \
        -o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false \
        -o Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false \
        -o Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false \
        -o Acquire::IndexTargets::deb::CNF::DefaultEnabled=false \
        -o Debug::NoLocking=1 \
        -o APT::Sandbox::User="$(id -un)"
    say "[$suite] downloading package index (private apt state in $root) ..."
    t0=$(date +%s)
    if ! apt-get -q "$@" update >"$root/update.log" 2>&1; then
        say "[$suite] 'apt-get update' failed:"; sed 's/^/    /' "$root/update.log" >&2
        return 1
    fi
    if grep -qE '^(W|E|Err):' "$root/update.log"; then
        say "[$suite] apt-get update reported problems:"
        grep -E '^(W|E|Err):' "$root/update.log" | sed 's/^/    /' >&2
        grep -q '^Err' "$root/update.log" && return 1
    fi
    say "[$suite] index ready in $(( $(date +%s) - t0 ))s"
    ver=$(apt-cache "$@" show libonnxruntime-dev 2>/dev/null \
          | sed -n 's/^Version: //p' | head -n 1)
    if [ -z "$ver" ]; then
        say "[$suite] libonnxruntime-dev is not available for $ARCH in $suite"
        return 1
    fi
    say "[$suite] downloading libonnxruntime-dev $ver ..."
    if ! (cd "$root/dl" && apt-get -q "$@" download "libonnxruntime-dev=$ver") \
            >"$root/download.log" 2>&1; then
        say "[$suite] 'apt-get download' failed:"; sed 's/^/    /' "$root/download.log" >&2
        return 1
    fi
    deb=$(ls "$root/dl"/libonnxruntime-dev_*.deb 2>/dev/null | head -n 1)
    [ -n "$deb" ] || { say "[$suite] no .deb after download"; return 1; }
    say "[$suite] got $(basename "$deb") ($(wc -c <"$deb") bytes)"
    mkdir -p "$root/x"
    dpkg-deb -x "$deb" "$root/x" || { say "[$suite] dpkg-deb -x failed"; return 1; }
    src="$root/x/usr/include/onnxruntime"
    # layout is flat in current packages; also accept a nested core/session dir
    hdr=$(find "$root/x/usr/include" -name onnxruntime_c_api.h | head -n 1)
    [ -n "$hdr" ] || { say "[$suite] onnxruntime_c_api.h not in the package"; return 1; }
    src=$(dirname "$hdr")
    rm -rf "$DEST/include/.onnxruntime.tmp"
    mkdir -p "$DEST/include/.onnxruntime.tmp"
    # copy headers only (flattened)
    find "$src" -maxdepth 1 -type f \( -name '*.h' -o -name '*.hpp' -o -name '*.inc' \) \
        -exec cp {} "$DEST/include/.onnxruntime.tmp/" \;
    printf 'libonnxruntime-dev %s (%s %s)\n' "$ver" "$MIRROR" "$suite" \
        > "$DEST/include/.onnxruntime.tmp/.source"
    rm -rf "$INC"
    mv "$DEST/include/.onnxruntime.tmp" "$INC"
    apiver=$(sed -n 's/^#define ORT_API_VERSION \([0-9]*\).*/\1/p' "$INC/onnxruntime_c_api.h")
    say "[$suite] installed $(ls "$INC" | wc -l) headers into $INC (ORT_API_VERSION=$apiver)"
    return 0
}

for s in $SUITES; do
    if fetch_from_suite "$s"; then
        exit 0
    fi
    say "[$s] failed; trying next suite"
done
die "could not obtain libonnxruntime-dev from $MIRROR (suites: $SUITES). Check network access to the Debian archive, or set ORT_DEB_MIRROR."

#!/usr/bin/env python3
"""Find or fetch onnxruntime's C API headers for the build (run by CMakeLists.txt).

The onnxruntime pip wheel ships no headers, and no PyPI package does; Debian's
``libonnxruntime-dev`` does. This script downloads ONE pinned version of that
package (``PIN`` below: URL path and SHA-256; the headers are the same for every
architecture, so the amd64 package serves every host), checks its hash,
unpacks only ``usr/include/onnxruntime/*.h`` (pure Python: no apt, no dpkg) and
keeps them in a per-user cache outside any build tree, keyed by the version:

    ${LOSSGRAD_ORT_HEADERS_CACHE:-${XDG_CACHE_HOME:-~/.cache}/lossgrad-ops/ort-headers}/<version>/

so a machine fetches them at most once. Lookup order: ``--include-dir`` /
``$ORT_INCLUDE_DIR`` (explicit, never overridden), the cache, a system
installation (``/usr/include/onnxruntime``, ``/usr/local/include/onnxruntime``),
then the download (skipped when ``LOSSGRAD_ORT_FETCH=0``). The whole run is
bounded by ``--timeout`` seconds (default 45; CMake kills it at 55).

Output: exactly one line on stdout, ``OK<TAB>include-dir<TAB>description`` or
``NO<TAB><TAB>reason``; the exit status is 0 either way (a build without the
headers is a valid build: onnx_ops then runs the ONNX function bodies).
Mirror: ``$ORT_DEB_MIRROR``, else the Debian mirror of /etc/apt's sources, else
http://deb.debian.org/debian.
"""
from __future__ import annotations

import argparse
import glob
import hashlib
import io
import os
import re
import shutil
import socket
import sys
import tarfile
import tempfile
import threading
import time
import urllib.request

# The pinned headers: Debian trixie's libonnxruntime-dev (onnxruntime 1.21.0, ORT_API_VERSION 21).
# The library asks onnxruntime for API 17 at run time (LOSSGRAD_ORT_MIN_API_VERSION), hence the
# package's `onnxruntime>=1.17` floor; these headers are a superset of that API.
PIN = {
    "version": "1.21.0",
    "package": "libonnxruntime-dev 1.21.0+dfsg-1",
    "path": "pool/main/o/onnxruntime/libonnxruntime-dev_1.21.0+dfsg-1_amd64.deb",
    "sha256": "14f7d959d5deacbcf1504830d4189f91fc67382b399ed9ae9d3aa9c4050ced08",
}
REQUIRED = ("onnxruntime_c_api.h", "onnxruntime_lite_custom_op.h")
DEFAULT_MIRROR = "http://deb.debian.org/debian"


def api_version(include_dir: str):
    """ORT_API_VERSION of the headers in ``include_dir`` (None if absent or unreadable)."""
    try:
        with open(os.path.join(include_dir, "onnxruntime_c_api.h"), encoding="utf-8", errors="replace") as f:
            match = re.search(r"^#define ORT_API_VERSION (\d+)", f.read(), re.M)
    except OSError:
        return None
    return int(match.group(1)) if match else None


def usable(include_dir: str, min_api: int) -> bool:
    version = api_version(include_dir)
    return (version is not None and version >= min_api
            and all(os.path.isfile(os.path.join(include_dir, h)) for h in REQUIRED))


def cache_root() -> str:
    explicit = os.environ.get("LOSSGRAD_ORT_HEADERS_CACHE")
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "lossgrad-ops", "ort-headers")


def mirrors():
    if os.environ.get("ORT_DEB_MIRROR"):
        return [os.environ["ORT_DEB_MIRROR"].rstrip("/")]
    found = []
    for path in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*"))]:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError:
            continue
        for line in text.splitlines():
            if line.lstrip().startswith("#"):
                continue
            for url in re.findall(r"https?://\S+/debian/?(?=\s|$)", line):
                found.append(url.rstrip("/"))
    return list(dict.fromkeys(found + [DEFAULT_MIRROR]))


def download(url: str, deadline: float) -> bytes:
    """GET ``url`` within ``deadline`` (a stalled server or slow trickle cannot exceed it)."""
    result: dict = {}

    def worker():
        try:
            remaining = max(1.0, deadline - time.monotonic())
            with urllib.request.urlopen(url, timeout=min(remaining, 20.0)) as resp:
                chunks = []
                while True:
                    if time.monotonic() > deadline:
                        raise TimeoutError("download too slow")
                    chunk = resp.read(65536)
                    if not chunk:
                        break
                    chunks.append(chunk)
                result["data"] = b"".join(chunks)
        except Exception as exc:  # noqa: BLE001 - reported to the caller
            result["error"] = exc

    thread = threading.Thread(target=worker, daemon=True)  # also bounds DNS look-ups
    thread.start()
    thread.join(max(0.0, deadline - time.monotonic()))
    if thread.is_alive():
        raise TimeoutError("no answer in time")
    if "error" in result:
        raise result["error"]
    return result["data"]


def deb_headers(deb: bytes) -> dict:
    """``{name: bytes}`` of usr/include/onnxruntime/*.h in a .deb (an ar archive of tarballs)."""
    if not deb.startswith(b"!<arch>\n"):
        raise ValueError("not a .deb (ar) archive")
    pos, data = 8, None
    while pos + 60 <= len(deb):
        name = deb[pos:pos + 16].decode().strip().rstrip("/")
        size = int(deb[pos + 48:pos + 58].decode().strip())
        body = deb[pos + 60:pos + 60 + size]
        if name.startswith("data.tar"):
            data = body
            break
        pos += 60 + size + (size & 1)
    if data is None:
        raise ValueError("no data.tar member in the .deb")
    if name.endswith(".zst"):
        raise ValueError("zstd-compressed .deb is not supported")
    headers = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        for member in tar.getmembers():
            path = member.name.lstrip("./")
            if member.isfile() and re.fullmatch(r"usr/include/onnxruntime/[A-Za-z0-9_.]+\.h", path):
                headers[os.path.basename(path)] = tar.extractfile(member).read()
    return headers


def fetch(dest: str, deadline: float) -> str:
    """Download, verify and unpack the pinned headers into ``dest``; returns the source URL."""
    errors = []
    for mirror in mirrors():
        if time.monotonic() >= deadline:
            errors.append("time limit reached")
            break
        url = f"{mirror}/{PIN['path']}"
        try:
            deb = download(url, deadline)
            digest = hashlib.sha256(deb).hexdigest()
            if digest != PIN["sha256"]:
                raise ValueError(f"SHA-256 mismatch ({digest})")
            headers = deb_headers(deb)
            if not all(h in headers for h in REQUIRED):
                raise ValueError("the package lacks " + ", ".join(h for h in REQUIRED if h not in headers))
        except Exception as exc:  # noqa: BLE001 - try the next mirror
            errors.append(f"{url}: {exc}")
            continue
        parent = os.path.dirname(dest)
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".tmp-", dir=parent)
        os.chmod(tmp, 0o755)
        for name, body in headers.items():
            with open(os.path.join(tmp, name), "wb") as f:
                f.write(body)
        with open(os.path.join(tmp, ".source"), "w", encoding="utf-8") as f:
            f.write(f"{PIN['package']} from {url} (sha256 {PIN['sha256']})\n")
        try:
            os.rename(tmp, dest)  # atomic; a concurrent build may have won the race
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
        return url
    raise RuntimeError("; ".join(errors) or "no mirror to try")


def locate(args) -> tuple:
    """(include_dir or None, description or reason)."""
    explicit = args.include_dir or os.environ.get("ORT_INCLUDE_DIR")
    if explicit:
        if usable(explicit, args.min_api):
            return explicit, f"ORT_INCLUDE_DIR={explicit} (ORT_API_VERSION {api_version(explicit)})"
        return None, (f"ORT_INCLUDE_DIR={explicit} has no onnxruntime_c_api.h and onnxruntime_lite_custom_op.h "
                      f"with ORT_API_VERSION >= {args.min_api}")
    cached = os.path.join(cache_root(), PIN["version"])
    if usable(cached, args.min_api):
        return cached, f"onnxruntime {PIN['version']} headers from the cache {cached}"
    for path in ("/usr/include/onnxruntime", "/usr/local/include/onnxruntime"):
        if usable(path, args.min_api):
            return path, f"system headers {path} (ORT_API_VERSION {api_version(path)})"
    if os.environ.get("LOSSGRAD_ORT_FETCH", "1") == "0":
        return None, "no onnxruntime headers in the cache or the system, and LOSSGRAD_ORT_FETCH=0 forbids the download"
    deadline = time.monotonic() + args.timeout
    socket.setdefaulttimeout(min(args.timeout, 20.0))
    t0 = time.monotonic()
    try:
        url = fetch(cached, deadline)
    except Exception as exc:  # noqa: BLE001 - the reason is the outcome
        return None, f"could not download {PIN['package']} within {args.timeout:.0f} s: {exc}"
    return cached, (f"onnxruntime {PIN['version']} headers downloaded once in {time.monotonic() - t0:.1f} s "
                    f"from {url} into the cache {cached}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--include-dir", default="", help="explicit header directory (like $ORT_INCLUDE_DIR)")
    ap.add_argument("--min-api", type=int, default=17, help="lowest acceptable ORT_API_VERSION")
    ap.add_argument("--timeout", type=float, default=45.0, help="total time limit in seconds")
    args = ap.parse_args(argv)
    include_dir, text = locate(args)
    text = " ".join(text.split())
    print(f"OK\t{include_dir}\t{text}" if include_dir else f"NO\t\t{text}")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    os._exit(main())  # no waiting for a stalled download thread

"""The custom ops inside data-parallel training: msrun with 2 CPU workers."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_worker_data_parallel_training_keeps_ranks_identical(tmp_path):
    bindir = os.path.dirname(sys.executable)
    msrun = shutil.which("msrun", path=bindir)
    assert msrun, f"msrun (installed with mindspore) is missing from {bindir}"
    # msrun starts its workers with the `python` found on PATH: make it this one
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""))
    out = tmp_path / "dp"
    cmd = [msrun, "--worker_num=2", "--local_worker_num=2", f"--master_port={_free_port()}",
           f"--log_dir={tmp_path / 'logs'}", "--join=True",
           os.path.join(ROOT, "examples", "data_parallel.py"), "--out", str(out), "--steps", "20"]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    logs = "".join(p.read_text(errors="replace") for p in (tmp_path / "logs").glob("*.log"))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:] + logs[-3000:]
    r0, r1 = np.load(out / "rank_0.npz"), np.load(out / "rank_1.npz")
    names = [k for k in r0.files if k != "curve"]
    assert names, "no weights saved"
    for k in names:  # gradients were all-reduced: the ranks hold the same weights
        np.testing.assert_array_equal(r0[k], r1[k], err_msg=k)
    # each rank saw different data (different local losses) and training progressed
    assert not np.array_equal(r0["curve"], r1["curve"])
    for r in (r0, r1):
        assert r["curve"][-1] < 0.5 * r["curve"][0]

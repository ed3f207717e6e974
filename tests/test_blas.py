"""One BLAS thread in every riffcast command (riffcast.ops.blas), unless the user chose a count."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from riffcast.ops.blas import THREAD_COUNT_VARIABLES

pytestmark = pytest.mark.system  # each case is a fresh process: the limit lasts for the process

# Runs a riffcast command in-process, then prints the thread counts of the BLAS libraries loaded.
_PROBE = """
import contextlib, io, json, sys
from threadpoolctl import threadpool_info
from riffcast.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(["seeds"])
blas = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
print(json.dumps({"code": code, "blas": blas}))
"""

def _blas_threads(**env: str) -> list[int]:
    environment = {k: v for k, v in os.environ.items() if k not in THREAD_COUNT_VARIABLES} | env
    done = subprocess.run([sys.executable, "-c", _PROBE], env=environment, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["code"] == 0
    return result["blas"]


def test_a_command_runs_with_one_blas_thread():
    assert _blas_threads() and set(_blas_threads()) == {1}


def test_a_count_the_user_chose_is_kept():
    assert set(_blas_threads(OPENBLAS_NUM_THREADS="2")) == {2}

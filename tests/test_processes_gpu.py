"""A real process on a real GPU, found through NVML and through nvidia-smi.

The GPU process uses the CUDA driver API through ctypes, so the test needs a
driver and nothing else (no torch). Skipped, saying why, where there is no GPU.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runwatch.project import Project
from runwatch.processes import LocalSource
from runwatch.processes.local import nvml_usage
from runwatch.processes.nvidia_smi import query_local
from runwatch.settings import Settings

pytestmark = [pytest.mark.gpu, pytest.mark.timeout(120)]

CUDA_MAIN = r"""
import ctypes, sys, time
cuda = ctypes.CDLL("libcuda.so.1")
def ok(rc, what):
    if rc != 0:
        sys.exit(f"{what} failed: CUDA error {rc}")
ok(cuda.cuInit(0), "cuInit")
dev = ctypes.c_int()
ok(cuda.cuDeviceGet(ctypes.byref(dev), 0), "cuDeviceGet")
ctx = ctypes.c_void_p()
ok(cuda.cuCtxCreate_v2(ctypes.byref(ctx), 0, dev), "cuCtxCreate")
ptr = ctypes.c_uint64()
ok(cuda.cuMemAlloc_v2(ctypes.byref(ptr), ctypes.c_size_t(512 << 20)), "cuMemAlloc")
print("ready", flush=True)
time.sleep(120)
"""


def _gpu_reason() -> str | None:
    try:
        import pynvml

        pynvml.nvmlInit()
        n = pynvml.nvmlDeviceGetCount()
        pynvml.nvmlShutdown()
    except Exception as e:
        return f"no NVIDIA GPU here (NVML: {e})"
    if n == 0:
        return "no NVIDIA GPU here (NVML sees 0 devices)"
    if shutil.which("nvidia-smi") is None:
        return "NVIDIA driver present but nvidia-smi not on PATH"
    return None


def test_real_gpu_process_found_via_nvml_and_nvidia_smi(tmp_path: Path) -> None:
    reason = _gpu_reason()
    if reason:
        pytest.skip(reason)
    (tmp_path / "configs" / "x").mkdir(parents=True)
    (tmp_path / "configs" / "x" / "run_0.py").write_text("config = {}\n")
    (tmp_path / "main.py").write_text(CUDA_MAIN)
    project = Project.at(tmp_path, Settings())
    proc = subprocess.Popen([sys.executable, "main.py", "--config-filepath", "configs/x/run_0.py"], cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready", "CUDA process did not start"
        deadline = time.monotonic() + 20
        while True:  # the driver reports a new context with a short delay
            nvml = nvml_usage() or {}
            smi = query_local() or {}
            if proc.pid in nvml and proc.pid in smi:
                break
            if time.monotonic() > deadline:
                # In a container whose PID namespace differs from the driver's, PIDs never agree.
                pytest.fail(f"pid {proc.pid} not reported: NVML sees {sorted(nvml)}, nvidia-smi sees {sorted(smi)}")
            time.sleep(0.5)
        assert nvml[proc.pid].indices == smi[proc.pid].indices == (0,)
        assert nvml[proc.pid].memory_mib is not None and nvml[proc.pid].memory_mib >= 512
        assert smi[proc.pid].memory_mib is not None and smi[proc.pid].memory_mib >= 512
        found = {p.pid: p for p in LocalSource().collect(project).processes}
        assert found[proc.pid].config_rel == "x/run_0" and found[proc.pid].gpu_indices == (0,)
        assert found[proc.pid].gpu_memory_mib is not None and found[proc.pid].gpu_memory_mib >= 512
    finally:
        proc.kill()
        proc.wait()

"""The wheel ships the configs and architectures: install it into a fresh virtualenv and train."""
from __future__ import annotations

import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_installs_and_trains_outside_the_checkout(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(REPO)],
        check=True, capture_output=True, text=True,
    )
    wheel = next(dist.glob("knowit-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "knowit/conf/config.yaml" in names and "knowit/conf/arch/lstm.yaml" in names
    assert "knowit/default_archs/lstm.py" in names

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)  # torch etc. from the system
    python = env_dir / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)], check=True)

    work = tmp_path / "empty"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KNOWIT_EXP_DIR")}
    where = subprocess.run([str(python), "-c", "import knowit; print(knowit.__file__)"], cwd=work, env=env, capture_output=True, text=True, check=True)
    assert where.stdout.strip().startswith(str(env_dir)), where.stdout
    out = subprocess.run(
        [str(python), "-m", "knowit", "train", "model_name=from_wheel", "arch.width=8", "trainer.max_epochs=1",
         "trainer.limit_train_batches=2", "trainer.limit_val_batches=1", "trainer.limit_test_batches=1"],
        cwd=work, env=env, capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    run = work / "knowit_exp" / "models" / "from_wheel"
    assert (run / "summary.json").is_file() and (run / "checkpoints" / "last.ckpt").is_file()
    assert f"run directory: {run}" in out.stdout

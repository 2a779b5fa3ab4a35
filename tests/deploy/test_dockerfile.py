"""deploy/docker/Dockerfile, checked statically (there is no container engine here).

The instructions are parsed (continuation lines joined, ``ARG`` defaults substituted)
and checked against the repository: what it copies exists, the console scripts the
image and the manifests call are declared by our pyprojects, it runs as a numeric
non-root user, and it bakes in no secrets.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from dataclasses import dataclass

import pytest

from .conftest import OVERLAYS, REPO, pod_specs, render

DOCKERFILE = REPO / "deploy" / "docker" / "Dockerfile"
PYPROJECTS = [
    REPO / "libs" / "hessra_core" / "pyproject.toml",
    *sorted((REPO / "services").glob("*/pyproject.toml")),
]
SECRETISH = re.compile(r"(SECRET|TOKEN|PASSWORD|PASSWD|PRIVATE|API_KEY|CREDENTIAL)", re.I)


@dataclass(frozen=True)
class Instruction:
    line: int
    op: str
    args: str


@dataclass(frozen=True)
class Stage:
    base: str
    name: str | None
    instructions: tuple[Instruction, ...]

    def ops(self, op: str) -> list[Instruction]:
        return [i for i in self.instructions if i.op == op]


def parse(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages, in order."""
    logical: list[tuple[int, str]] = []
    buffer, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not buffer and (not stripped or stripped.startswith("#")):
            continue
        if buffer and stripped.startswith("#"):
            continue
        if not buffer:
            start = number
        if stripped.endswith("\\"):
            buffer += stripped[:-1].rstrip() + " "
            continue
        logical.append((start, buffer + stripped))
        buffer = ""
    assert not buffer, "the Dockerfile ends inside a continued line"

    args: dict[str, str] = {}
    stages: list[Stage] = []
    current: list[Instruction] | None = None
    base, name = "", None
    for number, line in logical:
        op, _, rest = line.partition(" ")
        op = op.upper()
        if op == "FROM":
            if current is not None:
                stages.append(Stage(base, name, tuple(current)))
            words = rest.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            current = []
        elif current is None:
            assert op == "ARG", f"line {number}: only ARG may come before FROM"
            key, _, value = rest.partition("=")
            args[key.strip()] = value.strip()
        else:
            current.append(Instruction(number, op, rest.strip()))
    assert current is not None, "no FROM"
    stages.append(Stage(base, name, tuple(current)))
    return args, stages


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse(DOCKERFILE.read_text())[1]


def _console_scripts() -> set[str]:
    scripts: set[str] = set()
    for path in PYPROJECTS:
        scripts |= set(tomllib.loads(path.read_text())["project"].get("scripts", {}))
    return scripts


def _copies(stage: Stage) -> list[tuple[list[str], str, dict[str, str]]]:
    out = []
    for instr in stage.ops("COPY"):
        words = shlex.split(instr.args)
        flags = dict(w[2:].split("=", 1) for w in words if w.startswith("--"))
        paths = [w for w in words if not w.startswith("--")]
        out.append((paths[:-1], paths[-1], flags))
    return out


def test_multi_stage_from_one_pinned_slim_python(stages: list[Stage]) -> None:
    assert len(stages) >= 2
    assert stages[0].name == "builder"
    for stage in stages:
        assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?(@sha256:[0-9a-f]{64})?", stage.base), (
            stage.base
        )
    final = stages[-1]
    copied_from = {f.get("from") for _, _, f in _copies(final)}
    assert "builder" in copied_from


def test_the_readme_names_the_base_image_the_dockerfile_pins(stages: list[Stage]) -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Deploying to Kubernetes", 1)[1].split("\n## ", 1)[0]
    for base in {stage.base for stage in stages}:
        assert f"`{base}`" in section, f"README 'Deploying to Kubernetes' does not name {base}"


def test_runs_as_a_numeric_non_root_user(stages: list[Stage]) -> None:
    users = stages[-1].ops("USER")
    assert users, "the runtime stage sets no USER"
    user = users[-1].args
    assert re.fullmatch(r"\d+(:\d+)?", user), f"USER {user} is not numeric"
    uid = int(user.split(":")[0])
    assert uid >= 10000
    # ... and the manifests run the image as that same user.
    for overlay in OVERLAYS:
        for name, spec in pod_specs(render(overlay)).items():
            assert spec["securityContext"]["runAsUser"] == uid, f"{overlay}: {name}"


def test_copies_only_paths_that_exist_and_adds_nothing(stages: list[Stage]) -> None:
    ignore = (REPO / ".dockerignore").read_text().splitlines()
    included = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    for stage in stages:
        assert not stage.ops("ADD"), "use COPY; ADD fetches URLs and unpacks archives"
        for sources, _dest, flags in _copies(stage):
            if "from" in flags:
                continue
            for source in sources:
                assert (REPO / source).exists(), f"COPY {source}: not in the repository"
                # .dockerignore excludes everything except what is listed with `!`.
                assert any(
                    source.rstrip("/") == inc or source.startswith(inc + "/") for inc in included
                ), f"COPY {source}: excluded by .dockerignore"


def test_no_secrets_in_the_image(stages: list[Stage]) -> None:
    for stage in stages:
        for instr in (*stage.ops("ENV"), *stage.ops("ARG"), *stage.ops("LABEL")):
            assert not SECRETISH.search(instr.args), f"line {instr.line}: {instr.args}"
        for sources, _dest, _flags in _copies(stage):
            for source in sources:
                assert not re.search(r"\.(pem|key|crt)$|secret|token", source), source


def test_installs_the_pinned_requirements_and_our_packages(stages: list[Stage]) -> None:
    builder = stages[0]
    runs = " ".join(i.args for i in builder.ops("RUN"))
    assert "-r requirements/runtime.txt -c requirements/constraints.txt" in runs
    for project in (
        "libs/hessra_core",
        "services/issuer",
        "services/policy-sync",
        "services/signer",
    ):
        assert f"./{project}" in runs
    assert "--no-deps" in runs
    assert "pip check" in runs


def test_runtime_has_git_for_policy_sync(stages: list[Stage]) -> None:
    runs = " ".join(i.args for i in stages[-1].ops("RUN"))
    assert re.search(r"apt-get install .*\bgit\b", runs)
    assert "rm -rf /var/lib/apt/lists/*" in runs


def test_entry_points_named_by_image_and_manifests_exist(stages: list[Stage]) -> None:
    scripts = _console_scripts()
    assert {"hessra", "hessra-issuer", "hessra-policy-sync", "hessra-signer"} <= scripts
    final = stages[-1]
    assert not final.ops("ENTRYPOINT") or final.ops("ENTRYPOINT")[-1].args.startswith("[")
    (cmd,) = final.ops("CMD")
    assert cmd.args.startswith("["), "CMD must be exec form"
    assert cmd.args.split('"')[1] in scripts
    for overlay in OVERLAYS:
        for name, spec in pod_specs(render(overlay)).items():
            for c in spec["containers"]:
                assert c["command"][0] in scripts, f"{overlay}: {name}"


def test_parser_rejects_what_the_checks_rely_on() -> None:
    """The checks above read what the parser returns; make sure it reads correctly."""
    args, stages = parse(
        "ARG BASE=python:3.11.9-slim\n"
        "FROM ${BASE} AS builder\n"
        "RUN echo a \\\n"
        "    # a comment inside a continuation\n"
        "    && echo b\n"
        "FROM ${BASE}\n"
        "USER 10001:10001\n"
    )
    assert args == {"BASE": "python:3.11.9-slim"}
    assert [s.name for s in stages] == ["builder", None]
    assert stages[0].ops("RUN")[0].args == "echo a && echo b"
    assert stages[1].ops("USER")[0].args == "10001:10001"
    with pytest.raises(AssertionError):
        parse("RUN echo before from\n")


def test_probes_need_nothing_in_the_image_and_their_port_is_exposed(stages: list[Stage]) -> None:
    """The kubelet's native grpc probes run no command in the container; the image only
    documents (EXPOSE) the health-only port they call."""
    final = stages[-1]
    exposed = {int(p.split("/")[0]) for i in final.ops("EXPOSE") for p in i.args.split()}
    assert [d for _, d, _ in _copies(final) if "/usr/local/bin/" in d] == []
    for overlay in OVERLAYS:
        for name, spec in pod_specs(render(overlay)).items():
            for c in spec["containers"]:
                for kind in ("readinessProbe", "livenessProbe", "startupProbe"):
                    probe = c.get(kind)
                    if probe is None:
                        continue
                    assert "exec" not in probe, f"{overlay}: {name} {kind}"
                    if "grpc" in probe:
                        assert probe["grpc"]["port"] in exposed, f"{overlay}: {name} {kind}"

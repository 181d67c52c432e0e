"""``JobSpec``: what to run, on how many ranks, where, and with which limits.

Every rule is a pydantic constraint or validator, so one place says what a valid job is;
:func:`parse_spec` turns a ``ValidationError`` into :class:`InvalidSpec`, whose message
names each offending field and the rule it broke (``ranks: Input should be greater than or
equal to 1 (got 0)``). Paths in a spec are relative to ``working_dir`` and may not leave it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

import pydantic
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from workbench.errors import InvalidInput
from workbench.jobs.backends import backend_names
from workbench.validation import problems

MAX_RANKS = 1024
MAX_TIMEOUT_S = 30 * 24 * 3600
MAX_MEMORY_MIB = 4 * 1024 * 1024  # 4 TiB per rank
MAX_TRAINING_SPEC_BYTES = 1 << 20

# Set by the launcher for every rank (see workbench.jobs.checkpoints); a spec may not set them.
RESERVED_ENV = frozenset(
    {"WORKBENCH_JOB_ID", "WORKBENCH_ATTEMPT", "WORKBENCH_CHECKPOINT_DIR", "WORKBENCH_RESUME_FROM"}
)
RESERVED_ENV_PREFIXES = ("OMPI_", "PMIX_", "PRTE_", "SLURM_")


def _no_control_chars(value: str) -> str:
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("must not contain control characters (NUL, newline, tab, ...)")
    return value


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _inside_working_dir(value: str) -> str:
    """Normalise a relative path; reject absolute paths and ``..`` that climbs out."""
    path = PurePosixPath(value)
    if path.is_absolute():
        raise ValueError("must be a relative path inside working_dir (absolute paths are refused)")
    parts: list[str] = []
    for part in path.parts:
        if part == "..":
            if not parts:
                raise ValueError("must stay inside working_dir ('..' escapes it)")
            parts.pop()
        elif part != ".":
            parts.append(part)
    if not parts:
        raise ValueError("must name something inside working_dir, not working_dir itself")
    return "/".join(parts)


def _absolute(value: str) -> str:
    if not PurePosixPath(value).is_absolute():
        raise ValueError("must be an absolute path")
    return str(PurePosixPath(value))


Line = Annotated[str, StringConstraints(max_length=4096), AfterValidator(_no_control_chars)]
Arg = Annotated[str, StringConstraints(max_length=4096), AfterValidator(_no_nul)]
RelPath = Annotated[Line, StringConstraints(min_length=1), AfterValidator(_inside_working_dir)]
AbsPath = Annotated[Line, StringConstraints(min_length=1), AfterValidator(_absolute)]
EnvKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
EnvValue = Annotated[str, StringConstraints(max_length=32768), AfterValidator(_no_nul)]
Token = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
DnsLabel = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]
Program = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_./+-]{1,256}$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


class ScriptEntry(_Model):
    """Run ``python PATH ARGS...`` (PATH relative to ``working_dir``)."""

    kind: Literal["script"]
    path: RelPath
    args: list[Arg] = Field(default_factory=list, max_length=256)


class ModuleEntry(_Model):
    """Run ``python -m MODULE ARGS...``."""

    kind: Literal["module"]
    module: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
    args: list[Arg] = Field(default_factory=list, max_length=256)


class TrainingEntry(_Model):
    """Run ``python -m workbench.training.run SPEC_FILE`` with this training spec."""

    kind: Literal["training"]
    spec: dict[str, Any]

    @pydantic.field_validator("spec")
    @classmethod
    def _small_json(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            size = len(json.dumps(value, allow_nan=False))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"must be plain JSON ({exc})") from exc
        if size > MAX_TRAINING_SPEC_BYTES:
            raise ValueError(f"must be at most {MAX_TRAINING_SPEC_BYTES} bytes of JSON")
        return value


Entry = Annotated[ScriptEntry | ModuleEntry | TrainingEntry, Field(discriminator="kind")]


class Resources(_Model):
    """What each rank needs."""

    cpus: int = Field(default=1, ge=1, le=256, description="CPU cores per rank.")
    gpus: int = Field(default=0, ge=0, le=16, description="GPUs per rank.")
    memory: str | None = Field(
        default=None, pattern=r"^[1-9][0-9]{0,9}(Mi|Gi)$", description="Per rank: 512Mi, 4Gi."
    )

    @pydantic.field_validator("memory")
    @classmethod
    def _memory_cap(cls, value: str | None) -> str | None:
        if value is not None and _mib(value) > MAX_MEMORY_MIB:
            raise ValueError(f"must be at most {MAX_MEMORY_MIB // 1024}Gi per rank")
        return value

    @property
    def memory_mib(self) -> int | None:
        return None if self.memory is None else _mib(self.memory)


def _mib(memory: str) -> int:
    number, unit = int(memory[:-2]), memory[-2:]
    return number * 1024 if unit == "Gi" else number


class SlurmOptions(_Model):
    partition: Token | None = None
    account: Token | None = None
    qos: Token | None = None
    python: Program = Field(default="python3", description="Interpreter on the compute nodes.")
    launcher: Literal["srun", "mpirun"] = "srun"
    mpi: Literal["pmix", "pmix_v4", "pmix_v5", "pmi2"] = Field(
        default="pmix", description="srun --mpi plugin."
    )


_IMAGE_RE = (
    r"^[a-z0-9]([a-z0-9._/-]*[a-z0-9])?(:[0-9]{1,5}/[a-z0-9._/-]*[a-z0-9])?"  # [host[:port]/]path
    r"(:[\w][\w.-]{0,127})?(@sha256:[0-9a-f]{64})?$"  # [:tag][@digest]
)


class KubernetesOptions(_Model):
    image: str = Field(max_length=255, pattern=_IMAGE_RE)
    namespace: DnsLabel = "default"
    python: Program = "python3"
    ssh_auth_mount_path: AbsPath = "/root/.ssh"
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = None


class JobSpec(_Model):
    """A distributed job. ``resources`` are per rank; ``timeout_s`` bounds all attempts."""

    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$", description="DNS label.")
    entry: Entry
    ranks: int = Field(default=1, ge=1, le=MAX_RANKS)
    ranks_per_node: int | None = Field(default=None, ge=1, le=MAX_RANKS)
    backend: str = "local"
    resources: Resources = Field(default_factory=Resources)
    env: dict[EnvKey, EnvValue] = Field(default_factory=dict, max_length=256)
    working_dir: AbsPath | None = None
    checkpoint_dir: RelPath | None = None
    timeout_s: float | None = Field(default=None, gt=0, le=MAX_TIMEOUT_S)
    retries: int = Field(default=0, ge=0, le=10)
    retry_backoff_s: float = Field(default=2.0, ge=0, le=3600)
    mlflow_experiment: Line | None = Field(default=None, min_length=1, max_length=256)
    slurm: SlurmOptions | None = None
    kubernetes: KubernetesOptions | None = None

    @pydantic.field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        names = backend_names()
        if value not in names:
            raise ValueError(f"must be one of {', '.join(names)}")
        return value

    @pydantic.field_validator("env")
    @classmethod
    def _not_reserved(cls, env: dict[str, str]) -> dict[str, str]:
        for key in env:
            if key in RESERVED_ENV or key.startswith(RESERVED_ENV_PREFIXES):
                raise ValueError(f"{key} is set by the launcher and may not be overridden")
        return env

    @pydantic.model_validator(mode="after")
    def _consistent(self) -> JobSpec:
        rpn = self.ranks_per_node
        if rpn is not None and (rpn > self.ranks or self.ranks % rpn):
            raise ValueError(
                f"ranks_per_node: must divide ranks (ranks={self.ranks}, ranks_per_node={rpn})"
            )
        for other in ("slurm", "kubernetes"):
            if getattr(self, other) is not None and self.backend != other:
                raise ValueError(f"{other}: only allowed when backend is {other!r}")
        if self.backend == "kubernetes":
            if self.kubernetes is None:
                raise ValueError("kubernetes: required when backend is 'kubernetes' (image)")
            if self.entry.kind == "training":
                raise ValueError(
                    "entry.kind: 'training' entries need a shared spec file; on kubernetes "
                    "use a module entry (python -m workbench.training.run ...) in the image"
                )
        return self

    @property
    def nodes(self) -> int:
        return math.ceil(self.ranks / (self.ranks_per_node or self.ranks))


class InvalidSpec(InvalidInput):
    """A job spec broke one or more rules; ``problems`` has one line per broken rule."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid job spec: " + "; ".join(problems))
        self.problems = problems


def parse_spec(data: Mapping[str, Any] | JobSpec) -> JobSpec:
    """Validate ``data`` into a :class:`JobSpec` or raise :class:`InvalidSpec`."""
    if isinstance(data, JobSpec):
        return data
    if not isinstance(data, Mapping):
        raise InvalidSpec([f"spec: must be a mapping of fields (got {type(data).__name__})"])
    try:
        return JobSpec.model_validate(dict(data))
    except pydantic.ValidationError as exc:  # env values may hold secrets: never shown
        raise InvalidSpec(problems(exc, tags=_ENTRY_TAGS, hidden={"env"})) from None


_ENTRY_TAGS = {"entry": ("script", "module", "training")}

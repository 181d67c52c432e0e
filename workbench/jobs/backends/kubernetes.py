"""``kubernetes``: submit an MPIJob through the ``kubernetes`` client, poll it, delete it.

The cluster comes from ``KUBECONFIG`` (else ``~/.kube/config``, else the in-cluster service
account). Manifests are checked against the MPIJob v2beta1 schema before they are sent.
API calls that fail transiently (connection errors, 429, 5xx) are retried with tenacity.
Logs are the launcher pod's: ``mpirun --tag-output`` marks each line with its rank.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, TypeVar

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential
from tenacity.wait import wait_base

from workbench.config import Settings
from workbench.errors import Conflict, InvalidInput, ServiceUnavailable, WorkbenchError
from workbench.jobs.backends.mpijob import (
    GROUP,
    JOB_NAME_LABEL,
    JOB_ROLE_LABEL,
    PLURAL,
    VERSION,
    env_secret_name,
    mpijob_name,
    mpijob_state,
    render_env_secret,
    render_mpijob,
    validate_manifest,
)
from workbench.jobs.logs import LogLine, StreamFollower, tagged_line
from workbench.jobs.spec import JobSpec
from workbench.jobs.states import JobState
from workbench.jobs.store import JobRecord, JobStore

T = TypeVar("T")
log = logging.getLogger(__name__)
SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"  # noqa: S105


def kube_config_path() -> str:
    """``KUBECONFIG``, else ``~/.kube/config`` (it may not exist)."""
    return os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")


def _transient(exc: BaseException) -> bool:
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    if isinstance(exc, ApiException):
        return exc.status in (429, 500, 502, 503, 504)
    return isinstance(exc, HTTPError | ConnectionError | TimeoutError)


def _api_error(exc: Exception, what: str) -> WorkbenchError:
    status = getattr(exc, "status", None)
    detail = getattr(exc, "reason", None) or str(exc)
    if status == 409:
        return Conflict(f"{what}: already exists ({detail})")
    if status in (400, 422):
        return InvalidInput(f"{what}: Kubernetes rejected it: {getattr(exc, 'body', detail)}")
    if status == 404:
        return ServiceUnavailable(
            f"{what}: not found: is the MPI operator (kubeflow.org/v2beta1 MPIJob CRD) installed?"
        )
    if status in (401, 403):
        return ServiceUnavailable(f"{what}: not allowed by the cluster ({detail})")
    return ServiceUnavailable(f"{what}: the Kubernetes API did not answer ({detail})")


class KubernetesBackend:
    name = "kubernetes"
    call_attempts: ClassVar[int] = 4
    call_wait: ClassVar[wait_base] = wait_exponential(multiplier=0.5, max=8)
    request_timeout_s: ClassVar[float] = 30.0

    def __init__(self, store: JobStore, settings: Settings, api_client: Any = None) -> None:
        self.store = store
        self.settings = settings
        self._api_client = api_client

    # -- client ---------------------------------------------------------------------------

    @staticmethod
    def availability() -> tuple[bool, str]:
        """Configured the way :meth:`api_client` looks: a kube config file, else the
        in-cluster service account; the cluster itself is not contacted."""
        if importlib.util.find_spec("kubernetes") is None:
            return (
                False,
                "the kubernetes client is not installed (pip install workbench[kubernetes])",
            )
        path = kube_config_path()
        if os.path.exists(path.split(os.pathsep)[0]):
            return True, f"kube config {path}"
        if os.environ.get("KUBERNETES_SERVICE_HOST") and os.path.exists(SERVICE_ACCOUNT_TOKEN):
            return True, "in-cluster service account"
        return False, f"no kube config ({path}) and not running in a cluster"

    def api_client(self) -> Any:
        if self._api_client is None:
            from kubernetes import config
            from kubernetes.config.config_exception import ConfigException

            path = kube_config_path()
            from_file: Any = config.new_client_from_config  # the client is untyped
            in_cluster: Any = config.load_incluster_config
            try:
                if os.path.exists(path.split(os.pathsep)[0]):
                    self._api_client = from_file(config_file=path)
                else:
                    in_cluster()
                    from kubernetes import client

                    self._api_client = client.ApiClient()
            except ConfigException as exc:
                raise ServiceUnavailable(
                    f"no Kubernetes cluster configured (KUBECONFIG={path}): {exc}"
                ) from exc
        return self._api_client

    def _custom(self) -> Any:
        from kubernetes import client

        return client.CustomObjectsApi(self.api_client())

    def _core(self) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self.api_client())

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        kwargs.setdefault("_request_timeout", self.request_timeout_s)
        retrying = Retrying(
            stop=stop_after_attempt(self.call_attempts),
            wait=self.call_wait,
            retry=retry_if_exception(_transient),
            reraise=True,
        )
        return retrying(fn, *args, **kwargs)

    # -- the backend ----------------------------------------------------------------------

    def prepare(self, spec: JobSpec) -> JobSpec:
        self.api_client()  # fail now, before anything is stored, if there is no cluster
        return spec

    def submit(self, job: JobRecord) -> JobRecord:
        spec = JobSpec.model_validate(job.spec)
        manifest = render_mpijob(spec, job)
        validate_manifest(manifest)
        ns, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
        try:
            created = self._call(
                self._custom().create_namespaced_custom_object, GROUP, VERSION, ns, PLURAL, manifest
            )
        except Exception as exc:
            raise _api_error(exc, f"creating MPIJob {ns}/{name}") from exc
        uid = (created or {}).get("metadata", {}).get("uid")
        self._create_env_secret(spec, job, ns, name, uid)
        ref = {"namespace": ns, "name": name, "uid": uid}
        return self.store.transition(job.id, JobState.STARTING, backend_ref=ref)

    def _create_env_secret(
        self, spec: JobSpec, job: JobRecord, ns: str, name: str, uid: str | None
    ) -> None:
        """The env values' Secret, owned by the MPIJob ``uid`` (the cluster deletes it with
        the job). Pods wait for it (CreateContainerConfigError, retried by the kubelet).
        Without it the job cannot run, so a failure deletes the MPIJob again."""
        if not spec.env:
            return
        what = f"creating Secret {ns}/{env_secret_name(job)}"
        try:
            if not uid:
                raise ServiceUnavailable(f"the API returned MPIJob {ns}/{name} without a uid")
            secret = render_env_secret(spec, job, uid)
            self._call(self._core().create_namespaced_secret, ns, secret)
        except Exception as exc:
            error = exc if isinstance(exc, WorkbenchError) else _api_error(exc, what)
            try:
                self._delete_mpijob(ns, name)
            except WorkbenchError as cleanup:
                log.warning("MPIJob %s/%s left behind after %s: %s", ns, name, error, cleanup)
            raise error from exc

    def _ref(self, job: JobRecord) -> tuple[str, str]:
        spec = JobSpec.model_validate(job.spec)
        default_ns = spec.kubernetes.namespace if spec.kubernetes else "default"
        ns = str(job.backend_ref.get("namespace", default_ns))
        return ns, str(job.backend_ref.get("name", mpijob_name(job)))

    def refresh(self, job: JobRecord) -> JobRecord:
        ns, name = self._ref(job)
        from kubernetes.client.exceptions import ApiException

        try:
            obj = self._call(
                self._custom().get_namespaced_custom_object, GROUP, VERSION, ns, PLURAL, name
            )
        except ApiException as exc:
            if exc.status != 404:
                raise _api_error(exc, f"reading MPIJob {ns}/{name}") from exc
            if job.cancel_requested:
                return self.store.advance(job.id, JobState.CANCELLED, reason="cancelled by request")
            gone = f"MPIJob {ns}/{name} no longer exists (deleted outside workbench?)"
            return self.store.advance(job.id, JobState.LOST, reason=gone)
        except Exception as exc:
            raise _api_error(exc, f"reading MPIJob {ns}/{name}") from exc
        if job.cancel_requested and obj.get("metadata", {}).get("deletionTimestamp"):
            return self.store.get(job.id)  # our delete is under way: its pods' ends are ours
        target, reason = mpijob_state(obj)
        return self.store.advance(job.id, target, reason=reason)

    def request_cancel(self, job: JobRecord) -> None:
        """Delete the MPIJob (foreground: its pods go first); refresh sees it gone."""
        self._delete_mpijob(*self._ref(job))

    def _delete_mpijob(self, ns: str, name: str) -> None:
        """Delete the MPIJob and, through owner references, its pods and env Secret."""
        from kubernetes.client.exceptions import ApiException

        try:
            self._call(
                self._custom().delete_namespaced_custom_object,
                GROUP,
                VERSION,
                ns,
                PLURAL,
                name,
                propagation_policy="Foreground",
            )
        except ApiException as exc:
            if exc.status != 404:
                raise _api_error(exc, f"deleting MPIJob {ns}/{name}") from exc
        except Exception as exc:
            raise _api_error(exc, f"deleting MPIJob {ns}/{name}") from exc

    def logs(
        self, job: JobRecord, *, rank: int | None, tail: int | None, follow: bool
    ) -> Iterator[LogLine]:
        ns, name = self._ref(job)
        selector = f"{JOB_NAME_LABEL}={name},{JOB_ROLE_LABEL}=launcher"
        try:
            pods = self._call(self._core().list_namespaced_pod, ns, label_selector=selector)
        except Exception as exc:
            raise _api_error(exc, f"listing launcher pods of {ns}/{name}") from exc
        if not pods.items:
            return iter(())
        newest = max(pods.items, key=lambda p: p.metadata.creation_timestamp)
        return self._pod_lines(ns, newest.metadata.name, rank, tail, follow)

    def log_follower(self, job: JobRecord, *, rank: int | None, tail: int | None) -> StreamFollower:
        """The launcher pod's log stream (``follow``), drained on a thread of its own."""
        return StreamFollower(lambda: self.logs(job, rank=rank, tail=tail, follow=True))

    def _pod_lines(
        self, ns: str, pod: str, rank: int | None, tail: int | None, follow: bool
    ) -> Iterator[LogLine]:
        try:
            response = self._call(
                self._core().read_namespaced_pod_log,
                pod,
                ns,
                tail_lines=tail,
                follow=follow,
                _preload_content=False,
                _request_timeout=None if follow else self.request_timeout_s,
            )
        except Exception as exc:
            raise _api_error(exc, f"reading logs of pod {ns}/{pod}") from exc
        pending = b""
        for chunk in response.stream(amt=64 * 1024, decode_content=True):
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for raw in complete:
                line = tagged_line(raw.decode("utf-8", errors="replace"))
                if rank is None or line.rank == rank:
                    yield line
        if pending:
            line = tagged_line(pending.decode("utf-8", errors="replace"))
            if rank is None or line.rank == rank:
                yield line

"""What ``%wb train`` returns: a handle on one job whose widget shows it live.

    job = %wb train --model mlp --data digits -n 2
    job.wait(); job.state, job.run_id, job.metrics()

Shown in a notebook, the job is a small widget (state, epoch progress, the latest metrics)
that a background thread refreshes from the job store and MLflow until the job ends.
"""

from __future__ import annotations

import html
import logging
import threading
import time
from typing import Any

from workbench.jobs.service import JobService
from workbench.jobs.store import JobRecord

log = logging.getLogger(__name__)
POLL_S = 1.0
STATE_COLOURS = {"succeeded": "#2e7d32", "failed": "#c62828", "lost": "#c62828",
                 "cancelled": "#6d6d6d", "cancelling": "#6d6d6d"}  # fmt: skip


class Job:
    def __init__(self, job_id: str, service: JobService | None = None) -> None:
        self.id = job_id
        self.service = service or JobService(recover=False)
        self._run_id: str | None = None
        self._view: Any = None
        self._client: Any = None  # one MLflow client for the handle's lifetime

    # -- the job ------------------------------------------------------------------------

    @property
    def record(self) -> JobRecord:
        return self.service.get(self.id)

    @property
    def state(self) -> str:
        return str(self.record.state)

    def wait(self, timeout: float | None = None) -> Job:
        """Block until the job ends (or ``timeout`` s pass); the handle, for chaining."""
        self.service.wait(self.id, timeout=timeout)
        self._refresh()
        return self

    def cancel(self) -> Job:
        self.service.cancel(self.id)
        return self

    def logs(self, tail: int | None = 50) -> list[str]:
        return [str(line) for line in self.service.logs(self.id, tail=tail)]

    # -- its tracked run ------------------------------------------------------------------

    @property
    def run_id(self) -> str | None:
        """The MLflow run the job's rank 0 logs to (tagged with the job's id)."""
        if self._run_id is None:
            from workbench.tracking.queries import runs_tagged

            found = runs_tagged(self._tracking(), "workbench.job_id", self.id)
            self._run_id = found[0] if found else None
        return self._run_id

    def metrics(self) -> dict[str, float]:
        """The run's latest metrics ({} until the run has started)."""
        if self.run_id is None:
            return {}
        return dict(self._tracking().get_run(self.run_id).data.metrics)

    def _tracking(self) -> Any:
        if self._client is None:
            from workbench.tracking.client import tracking_client

            self._client = tracking_client(self.service.settings)
        return self._client

    # -- the widget -----------------------------------------------------------------------

    def _epochs(self, record: JobRecord) -> int:
        entry = record.spec.get("entry", {})
        if entry.get("kind") != "training":
            return 0
        return int(entry.get("spec", {}).get("train", {}).get("epochs", 0) or 0)

    @property
    def view(self) -> Any:
        """The live widget (made, and followed, on first use)."""
        import ipywidgets as widgets

        if self._view is None:
            self._view = widgets.VBox(
                [widgets.HTML(), widgets.IntProgress(min=0, description="epochs"),
                 widgets.HTML()],
                layout=widgets.Layout(border="1px solid #ccc", padding="4px 8px", width="520px"),
            )  # fmt: skip
            self._refresh()
            threading.Thread(target=self._follow, name=f"wb-job-{self.id}", daemon=True).start()
        return self._view

    def _refresh(self) -> bool:
        """Update the widget (if shown); True while the job is still active."""
        record = self.record
        if self._view is not None:
            title, progress, latest = self._view.children
            colour = STATE_COLOURS.get(str(record.state), "#1565c0")
            title.value = (
                f"<b>{html.escape(record.name)}</b> <code>{record.id}</code> · {record.ranks} "
                f"rank{'s' if record.ranks != 1 else ''} · "
                f"<span style='color:{colour};font-weight:bold'>{record.state}</span>"
                + (f" · {html.escape(record.reason)}" if record.reason else "")
            )
            metrics = self.metrics()
            epochs = self._epochs(record)
            progress.layout.visibility = "visible" if epochs else "hidden"
            progress.max = max(epochs, 1)
            progress.value = min(self._epochs_done(), progress.max)
            progress.bar_style = "success" if record.state == "succeeded" else ""
            latest.value = " · ".join(
                f"{html.escape(k)} <b>{v:.4g}</b>" for k, v in sorted(metrics.items())
                if not k.startswith("system/")
            )  # fmt: skip
        return not record.state.terminal

    def _epochs_done(self) -> int:
        if self.run_id is None:
            return 0
        history = self._tracking().get_metric_history(self.run_id, "train_loss")
        return 1 + max((m.step for m in history), default=-1)

    def _follow(self) -> None:
        while True:
            try:
                if not self._refresh():
                    return
            except Exception as exc:  # a view must never kill the kernel's thread
                log.warning("job %s: the live view stopped: %s", self.id, exc)
                return
            time.sleep(POLL_S)

    def summary(self) -> str:
        """One line: name, id, ranks, state and the latest test/train metrics."""
        record = self.record
        metrics = self.metrics()
        shown = [f"{k} {metrics[k]:.4g}" for k in ("test_accuracy", "train_loss") if k in metrics]
        parts = [f"{record.name} ({record.id})", f"{record.ranks} ranks", str(record.state)]
        if record.reason:
            parts.append(record.reason)
        return " · ".join(parts + shown)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        """The live widget, with :meth:`summary` as the text a static copy of the notebook
        (HTML, GitHub, a kernel without widgets) shows instead of ``VBox(...)``."""
        show = getattr(self.view, "_repr_mimebundle_", None)  # None once the widget is closed
        bundle: dict[str, Any] = show(**kwargs) if callable(show) else {}
        return {**bundle, "text/plain": self.summary()}

    def __repr__(self) -> str:
        record = self.record
        return f"Job({record.id!r}, name={record.name!r}, state={str(record.state)!r})"

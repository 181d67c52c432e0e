"""Which task holds which image: the workbench's own index of a project's tasks.

Listing 10k tasks through Label Studio's task API takes half a minute (it serializes
annotations, predictions and drafts of each), so the workbench keeps task id -> (content
hash, path) itself, written as tasks are imported. Whenever Label Studio's task count
differs from the index (tasks deleted or added in its UI), the index is rebuilt from a
full listing, so it never goes stale silently.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from workbench.labeling.client import LabelStudioClient


@dataclass(frozen=True)
class IndexedTask:
    id: int
    sha256: str
    path: str  # relative to the project's image folder


class TaskIndex:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.tasks: dict[int, IndexedTask] = {}
        self.task_number = 0  # Label Studio's count of the project's tasks, as last seen
        if path.is_file():
            stored = json.loads(path.read_text())
            self.task_number = int(stored["task_number"])
            rows = stored["tasks"]
            self.tasks = {int(r[0]): IndexedTask(int(r[0]), r[1], r[2]) for r in rows}

    def shas(self) -> set[str]:
        return {t.sha256 for t in self.tasks.values()}

    def add(self, tasks: list[IndexedTask]) -> None:
        self.tasks.update({t.id: t for t in tasks})
        self.task_number += len(tasks)
        self.save()

    def save(self) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        rows = [[t.id, t.sha256, t.path] for t in sorted(self.tasks.values(), key=lambda t: t.id)]
        stored = {"task_number": self.task_number, "tasks": rows}
        tmp.write_text(json.dumps(stored, separators=(",", ":")))
        os.replace(tmp, self.path)

    def reconcile(self, client: LabelStudioClient, project_id: int) -> TaskIndex:
        """Rebuild from Label Studio when its task count says the index is out of date."""
        count = int(client.project(project_id).get("task_number") or 0)
        if count != self.task_number or not self.path.is_file():
            found = []
            for task in client.iter_tasks(project_id, fields="task_only"):
                data = task.get("data", {})
                if "wb_sha256" in data and "wb_path" in data:
                    found.append(IndexedTask(int(task["id"]), data["wb_sha256"], data["wb_path"]))
            self.tasks, self.task_number = {t.id: t for t in found}, count
            self.save()
        return self

"""Retention: finished jobs removed once they are old, by `runner prune` or by the
daemon itself (`retention_days` in config.yaml)."""

from __future__ import annotations

import time
from typing import Optional

from . import events
from .results import iso
from .spool import Spool


def prune(spool: Spool, older_than_seconds: float, dry_run: bool = False,
          limit: Optional[int] = None) -> list[dict]:
    """Remove finished jobs (done, failed, cancelled) whose result is older than
    `older_than_seconds`: their folders in jobs/.state/ and their outbox/ files. With
    `dry_run`, only list them. At most `limit` jobs (None: all). Returns what was (or
    would be) removed: id, state and when it finished (ISO 8601, UTC)."""
    removed = []
    for job_id, state, finished in spool.finished_before(time.time() - older_than_seconds):
        if limit is not None and len(removed) >= limit:
            break
        if dry_run or spool.remove_finished(job_id, state):
            removed.append({"id": job_id, "state": state.value, "finished": iso(finished)})
            if not dry_run:
                spool.events.emit(events.PRUNED, job_id, state=state.value)
    return removed

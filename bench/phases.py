"""Where a launch spends its time, from what the API already tells: the cluster's events
(one per status change, timestamped) and the orchestrator's runs (`GET .../logs`: each
run's start and end, each task's duration on each host). Pure functions, unit-tested in
tests/test_bench_phases.py.

Phases (seconds):
- `schedule`: registered -> scheduled (placement, image check, containers started, port 22 answering);
- `configure`: scheduled -> configured (the `start` playbook, pick-up included);
- `ready`: configured -> ready (the `status` playbook, retried until it passes).
"""
from __future__ import annotations

from datetime import datetime

PHASES = (("schedule", "registered", "scheduled"), ("configure", "scheduled", "configured"),
          ("ready", "configured", "ready"))


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def status_times(events: list[dict]) -> dict[str, datetime]:
    """The first time each status was reached (an event's message starts with it)."""
    reached: dict[str, datetime] = {}
    for event in events:
        status = event["message"].split(":", 1)[0].strip()
        if status and " " not in status and status not in reached:
            reached[status] = _time(event["time"])
    return reached


def phase_seconds(events: list[dict]) -> dict[str, float]:
    """{phase: seconds} for the phases whose two statuses were both reached."""
    reached = status_times(events)
    return {name: (reached[end] - reached[start]).total_seconds()
            for name, start, end in PHASES if start in reached and end in reached}


def run_seconds(run: dict) -> float:
    if not run.get("started") or not run.get("finished"):
        return 0.0
    return (_time(run["finished"]) - _time(run["started"])).total_seconds()


def task_walls(run: dict) -> list[tuple[str, float]]:
    """(task, seconds) in playbook order: a task's longest duration over its hosts (hosts
    run a task in parallel, so that is roughly what it adds to the run)."""
    walls: dict[str, float] = {}
    for event in run.get("events") or []:
        task = event.get("task", "")
        walls[task] = max(walls.get(task, 0.0), float(event.get("duration") or 0.0))
    return list(walls.items())


def breakdown(events: list[dict], runs: list[dict], top: int = 3) -> dict:
    """Phases, the `start` run (its length, its slowest tasks, and the part no task
    accounts for: ansible start-up, connections, playbook parsing) and the `status` runs."""
    starts = [r for r in runs if r.get("action") == "start"]
    statuses = [r for r in runs if r.get("action") == "status"]
    result = {"phases": phase_seconds(events), "status_runs": [round(run_seconds(r), 1) for r in statuses]}
    if starts:
        start = starts[0]
        walls = task_walls(start)
        total = run_seconds(start)
        result["start_run"] = round(total, 1)
        result["start_overhead"] = round(max(0.0, total - sum(w for _, w in walls)), 1)
        result["slowest"] = sorted(walls, key=lambda tw: -tw[1])[:top]
    return result


def describe(b: dict) -> str:
    """One table cell: the start run, its slowest tasks and the status runs."""
    parts = []
    if "start_run" in b:
        slow = ", ".join(f"{task or '?'} {secs:.1f}" for task, secs in b["slowest"])
        parts.append(f"start run {b['start_run']:.1f} s (slowest: {slow}; outside tasks "
                     f"{b['start_overhead']:.1f})")
    runs = b.get("status_runs") or []
    if runs:
        parts.append(f"status run{'s' if len(runs) > 1 else ''} " + " + ".join(f"{s:.1f}" for s in runs) + " s")
    return "; ".join(parts)

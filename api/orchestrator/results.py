"""What a playbook run says, in a sentence a person can act on: the stored form of each
task result, and the reason a run failed (host, task, message). Pure functions."""
from __future__ import annotations

MESSAGE_LIMIT = 400


def _message(res: dict) -> str:
    """The human part of a task result (module message, else the command's stderr)."""
    res = res or {}
    msg = str(res.get("msg") or res.get("reason") or "").strip()
    stderr = str(res.get("stderr") or res.get("module_stderr") or "").strip()
    # A command's msg is only "non-zero return code": its stderr says what went wrong.
    text = f"{msg}: {stderr}" if msg and stderr and stderr not in msg else (msg or stderr)
    if not text and res.get("results"):  # a loop: the first failing item's message
        for item in res["results"]:
            if isinstance(item, dict) and item.get("failed"):
                text = item.get("msg") or item.get("stderr") or ""
                break
    text = str(text).strip()
    return text if len(text) <= MESSAGE_LIMIT else text[:MESSAGE_LIMIT] + "..."


_EVENT_STATUS = {"runner_on_ok": "ok", "runner_on_failed": "failed",
                 "runner_on_unreachable": "unreachable", "runner_on_skipped": "skipped"}


def task_event(event: dict) -> dict | None:
    """The stored form of one ansible-runner event, for task results only."""
    kind = _EVENT_STATUS.get(event.get("event"))
    if kind is None:
        return None
    data = event.get("event_data") or {}
    res = data.get("res") or {}
    if kind == "ok" and res.get("changed"):
        kind = "changed"
    if kind == "failed" and data.get("ignore_errors"):
        kind = "ignored"
    action = (data.get("task_action") or "").rsplit(".", 1)[-1]
    if kind == "failed" and action == "wait_for_connection":
        kind = "unreachable"  # the shared wait_for_ssh role gave up on the node
    return {"host": data.get("host", ""), "task": data.get("task", ""), "status": kind,
            "message": _message(res) if kind in ("failed", "unreachable", "ignored") else "",
            "time": event.get("created", "")}


def failure_reason(events: list[dict], action: str, rc: int | None, addresses: dict,
                   stdout: str = "") -> str:
    """One sentence naming the host, task and message of the first failure."""
    for ev in events:
        if ev["status"] == "unreachable":
            where = f" ({addresses[ev['host']]})" if addresses.get(ev["host"]) else ""
            return (f"{action}: node {ev['host']}{where} is unreachable in task "
                    f"'{ev['task']}': {ev['message']}")
        if ev["status"] == "failed":
            return f"{action}: task '{ev['task']}' failed on {ev['host']}: {ev['message']}"
    # No task failed: ansible itself stopped (syntax error, missing role...); its last
    # words say why.
    tail = " | ".join(line.strip() for line in stdout.strip().splitlines()[-3:] if line.strip())
    return f"{action}: ansible-playbook exited with {rc} before any task failed: {tail[-MESSAGE_LIMIT:]}"

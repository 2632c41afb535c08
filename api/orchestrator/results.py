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
    # duration (seconds on that host) tells where a launch spends its time (bench products).
    try:
        duration = round(float(data.get("duration") or 0), 3)
    except (TypeError, ValueError):
        duration = 0.0
    return {"host": data.get("host", ""), "task": data.get("task", ""), "status": kind,
            "message": _message(res) if kind in ("failed", "unreachable", "ignored") else "",
            "time": event.get("created", ""), "duration": duration}


def recap_clean(event: dict) -> bool | None:
    """For ansible's closing `playbook_on_stats` event (its PLAY RECAP): whether no host
    failed or was unreachable, which is what rc 0 says; None for any other event."""
    if event.get("event") != "playbook_on_stats":
        return None
    data = event.get("event_data") or {}
    return not (data.get("failures") or data.get("dark"))


# Task failures that come from the playbook itself, not from the nodes: retrying the same
# playbook cannot help, so a readiness check that fails this way fails the cluster at once.
PLAYBOOK_ERRORS = ("Unsupported parameters for", "missing required arguments", "is undefined",
                   "Finalization of task args", "couldn't resolve module/action",
                   "conflicting action statements", "is not a valid attribute for",
                   "Invalid options for", "has no attribute")


def first_failure(events: list[dict]) -> dict | None:
    return next((ev for ev in events if ev["status"] in ("failed", "unreachable")), None)


def is_playbook_error(events: list[dict], rc: int | None) -> bool:
    """Whether a failed run failed because of the playbook (a syntax error, a missing role,
    a misspelt module argument, an undefined variable) rather than the state of a node."""
    first = first_failure(events)
    if first is None:
        return rc not in (None, 0)  # ansible stopped before any task ran to a result
    return first["status"] == "failed" and any(m in first["message"] for m in PLAYBOOK_ERRORS)


def ansible_error(stdout: str) -> tuple[str, str]:
    """Ansible's own error line ("[ERROR]: the role 'redis' was not found ...", or an old
    "ERROR! ...") and where it points ("Origin: .../playbook.yml:6:43"), from its output."""
    lines = [line.strip() for line in stdout.splitlines()]
    for i, line in enumerate(lines):
        for head in ("[ERROR]:", "ERROR!"):
            if line.startswith(head):
                message = line[len(head):].strip()
                origin = next((rest for rest in lines[i + 1:i + 4] if rest.startswith("Origin:")), "")
                return message, origin
    return "", ""


def failure_reason(events: list[dict], action: str, rc: int | None, addresses: dict,
                   stdout: str = "") -> str:
    """One sentence naming the host, task and message of the first failure."""
    ev = first_failure(events)
    if ev is not None and ev["status"] == "unreachable":
        where = f" ({addresses[ev['host']]})" if addresses.get(ev["host"]) else ""
        return (f"{action}: node {ev['host']}{where} is unreachable in task "
                f"'{ev['task']}': {ev['message']}")
    if ev is not None:
        return f"{action}: task '{ev['task']}' failed on {ev['host']}: {ev['message']}"
    # No task failed: ansible itself stopped (syntax error, missing role...). Its error
    # line says why; the last lines of output are only a fallback (they are often the
    # code excerpt under the error, not the error).
    error, origin = ansible_error(stdout)
    if error:
        # The message may carry a long roles path; where it points is kept whole.
        cut = error if len(error) <= MESSAGE_LIMIT else error[:MESSAGE_LIMIT] + "..."
        return f"{action}: the playbook cannot run: {cut}" + (f" ({origin})" if origin else "")
    tail = " | ".join(line.strip() for line in stdout.strip().splitlines()[-3:] if line.strip())
    # ansible-runner leaves rc None only when the process had no exit status: a signal.
    how = "was killed by a signal" if rc is None else f"exited with {rc}"
    return f"{action}: ansible-playbook {how} before any task failed: {tail[-MESSAGE_LIMIT:]}"

"""How a playbook run's task results become the reason a person reads. Pure."""
from __future__ import annotations

from api.orchestrator.results import failure_reason, is_playbook_error, recap_clean, task_event


def event(kind: str, host="n1", task="Start it", res=None, **data) -> dict:
    return {"event": kind, "created": "2026-01-01T00:00:00",
            "event_data": {"host": host, "task": task, "res": res or {}, **data}}


def test_only_task_results_are_kept_and_changed_is_told_apart():
    assert task_event({"event": "playbook_on_start"}) is None
    assert task_event(event("runner_on_ok", res={"changed": True}))["status"] == "changed"
    assert task_event(event("runner_on_ok"))["status"] == "ok"
    ignored = task_event(event("runner_on_failed", res={"msg": "meh"}, ignore_errors=True))
    assert (ignored["status"], ignored["message"]) == ("ignored", "meh")


def test_a_command_failure_says_its_stderr_and_long_text_is_cut():
    failed = task_event(event("runner_on_failed", res={"msg": "non-zero return code",
                                                       "stderr": "slurmd: fatal: no conf"}))
    assert failed["message"] == "non-zero return code: slurmd: fatal: no conf"
    long = task_event(event("runner_on_failed", res={"msg": "x" * 1000}))
    assert len(long["message"]) == 403 and long["message"].endswith("...")


def test_wait_for_connection_giving_up_is_unreachable():
    ev = task_event(event("runner_on_failed", res={"msg": "timed out"}, task_action="ansible.builtin.wait_for_connection"))
    assert ev["status"] == "unreachable"


def test_the_reason_names_host_task_and_address():
    events = [task_event(event("runner_on_ok")),
              task_event(event("runner_on_unreachable", host="n2", task="Gather", res={"msg": "ssh: no route"}))]
    assert failure_reason(events, "start", 4, {"n2": "10.30.0.3"}) == (
        "start: node n2 (10.30.0.3) is unreachable in task 'Gather': ssh: no route")
    events = [task_event(event("runner_on_failed", task="Write conf", res={"msg": "boom"}))]
    assert failure_reason(events, "start", 2, {}) == "start: task 'Write conf' failed on n1: boom"


def test_ansible_stopping_before_any_task_quotes_its_error_line_and_origin():
    stdout = ("[ERROR]: the role 'redis' was not found in " + "/very/long/roles:" * 40 + "\n"
              "Origin: /runs/1/6/project/playbook.yml:6:43\n\n4   tasks:\n6   import_role: {name: redis}\n"
              "                                            ^ column 43\n")
    reason = failure_reason([], "start", 1, {}, stdout)
    assert reason.startswith("start: the playbook cannot run: the role 'redis' was not found in /very")
    assert reason.endswith("(Origin: /runs/1/6/project/playbook.yml:6:43)")  # never cut off
    assert is_playbook_error([], 1) and not is_playbook_error([], 0)


def test_old_style_errors_and_unknown_output():
    assert "the role 'x' was not found" in failure_reason([], "start", 4, {}, "ERROR! the role 'x' was not found\n")
    assert failure_reason([], "start", 250, {}, "a\nb\nc\nd\n") == (
        "start: ansible-playbook exited with 250 before any task failed: b | c | d")
    assert failure_reason([], "start", None, {}, "") == (  # no exit status: a signal ended it
        "start: ansible-playbook was killed by a signal before any task failed: ")


def test_a_misspelt_argument_is_the_playbooks_fault_a_failing_command_is_not():
    typo = [task_event(event("runner_on_failed", res={"msg": "Unsupported parameters for (assert) module: fial_msg"}))]
    down = [task_event(event("runner_on_failed", res={"msg": "non-zero return code", "stderr": "not running"}))]
    assert is_playbook_error(typo, 2) and not is_playbook_error(down, 2)


def test_each_task_result_keeps_how_long_it_took_on_its_host():
    assert task_event(event("runner_on_ok", duration=1.23456))["duration"] == 1.235
    assert task_event(event("runner_on_ok"))["duration"] == 0.0
    assert task_event(event("runner_on_ok", duration="n/a"))["duration"] == 0.0


def test_the_recap_says_whether_every_host_went_well():
    stats = {"event": "playbook_on_stats", "event_data": {"ok": {"node1": 4}, "failures": {}, "dark": {}}}
    assert recap_clean(stats) is True
    assert recap_clean({**stats, "event_data": {"failures": {"node2": 1}}}) is False
    assert recap_clean({**stats, "event_data": {"dark": {"node1": 1}}}) is False
    assert recap_clean({"event": "runner_on_ok", "event_data": {}}) is None

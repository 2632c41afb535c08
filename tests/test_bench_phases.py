"""Where a launch spends its time (bench/phases.py), from events and runs shaped as the API
serves them (`GET .../events`, `GET .../logs`)."""
from __future__ import annotations

from bench.phases import breakdown, describe, phase_seconds, task_walls

EVENTS = [
    {"time": "2026-12-01T10:00:00.000000", "message": "registered: 3 node(s), 2 service(s)"},
    {"time": "2026-12-01T10:00:00.100000", "message": "scheduling: placing nodes"},
    {"time": "2026-12-01T10:00:00.200000", "message": "placed node1 on local, node2 on local"},
    {"time": "2026-12-01T10:00:02.500000", "message": "scheduled: 3 nodes running"},
    {"time": "2026-12-01T10:00:02.600000", "message": "configuring: running the playbook (start)"},
    {"time": "2026-12-01T10:00:09.500000", "message": "configured: playbook (start) succeeded"},
    {"time": "2026-12-01T10:00:12.000000", "message": "ready: readiness check passed"},
]
START = {"action": "start", "started": "2026-12-01T10:00:02.700000", "finished": "2026-12-01T10:00:09.400000",
         "events": [{"host": "n1", "task": "Wait for SSH", "duration": 0.5},
                    {"host": "n2", "task": "Wait for SSH", "duration": 1.5},
                    {"host": "n1", "task": "Start the daemon", "duration": 3.0},
                    {"host": "n2", "task": "Write | conf", "duration": 0.2}]}
STATUS = [{"action": "status", "started": "2026-12-01T10:00:09.600000", "finished": "2026-12-01T10:00:10.100000",
           "events": []},
          {"action": "status", "started": "2026-12-01T10:00:10.200000", "finished": "2026-12-01T10:00:11.900000",
           "events": []}]


def test_phases_run_from_each_status_first_reached_to_the_next():
    assert phase_seconds(EVENTS) == {"schedule": 2.5, "configure": 7.0, "ready": 2.5}
    # "placed ..." is a step, not a status; a cluster not yet ready has no `ready` phase.
    assert phase_seconds(EVENTS[:6]) == {"schedule": 2.5, "configure": 7.0}


def test_a_task_counts_for_its_slowest_host():
    assert task_walls(START) == [("Wait for SSH", 1.5), ("Start the daemon", 3.0), ("Write | conf", 0.2)]


def test_breakdown_names_the_slowest_tasks_the_time_outside_tasks_and_each_status_run():
    b = breakdown(EVENTS, [START, *STATUS], top=2)
    assert b["start_run"] == 6.7
    assert b["slowest"] == [("Start the daemon", 3.0), ("Wait for SSH", 1.5)]
    assert b["start_overhead"] == 2.0  # 6.7 s of run, 4.7 s of tasks
    assert b["status_runs"] == [0.5, 1.7]
    assert describe(b) == ("start run 6.7 s (slowest: Start the daemon 3.0, Wait for SSH 1.5; outside tasks 2.0); "
                           "status runs 0.5 + 1.7 s")


def test_a_cluster_without_runs_has_phases_only():
    b = breakdown(EVENTS[:4], [])
    assert b == {"phases": {"schedule": 2.5}, "status_runs": []}
    assert describe(b) == ""

#!/bin/sh
# One daemon in a node container without an init system, through start-stop-daemon
# (dpkg's, in every Debian image). Run by the `daemon` role's tasks with ansible's
# `script` module: a shell script needs no Python module on the node, so each action is
# one quick round trip.
#
#   daemon.sh start  NAME PIDFILE EXEC USER BACKGROUND WAIT_SECONDS OUTPUT RESTART [ARG ...]
#   daemon.sh stop   NAME PIDFILE
#   daemon.sh status NAME PIDFILE
#
# NAME is the process name as in /proc/<pid>/comm (--name, not --exec: matching
# /proc/<pid>/exe of a daemon running as another user needs CAP_SYS_PTRACE, which
# unprivileged containers lack). USER "" runs it as root; BACKGROUND "true" forks a
# program that stays in the foreground and writes its pidfile, sending its output to
# OUTPUT (a file; "" discards it). RESTART "true" stops a running one first (its
# configuration changed). Prints what it did:
# "running", "started", "stopped", "not running".
set -u
action=$1 name=$2 pidfile=$3
shift 3

running() {
    start-stop-daemon --status --pidfile "$pidfile" --name "$name"
}

case "$action" in
start)
    exec_path=$1 user=$2 background=$3 wait_seconds=$4 output=$5 restart=$6
    shift 6
    if running; then
        [ "$restart" = true ] || { echo running; exit 0; }
        start-stop-daemon --stop --pidfile "$pidfile" --name "$name" --retry TERM/15/KILL/5 --remove-pidfile \
            || { echo "could not stop $name to restart it" >&2; exit 1; }
    fi
    set -- --start --pidfile "$pidfile" --name "$name" --exec "$exec_path" \
        ${user:+--chuid "$user"} -- "$@"
    if [ "$background" = true ]; then
        # --background/--make-pidfile must come before "--" and the daemon's arguments.
        first=$1; shift
        set -- "$first" --background --make-pidfile ${output:+--output "$output"} "$@"
    fi
    start-stop-daemon "$@" || { echo "start-stop-daemon could not start $name" >&2; exit 1; }
    tries=$((wait_seconds * 5))
    while [ "$tries" -gt 0 ]; do
        running && { echo started; exit 0; }
        tries=$((tries - 1))
        sleep 0.2
    done
    echo "$name did not start on $(hostname) within ${wait_seconds}s" >&2
    exit 1
    ;;
stop)
    # TERM, wait up to 15 s, then KILL. Status 1: nothing was running.
    start-stop-daemon --stop --pidfile "$pidfile" --name "$name" --retry TERM/15/KILL/5 --remove-pidfile
    case $? in
        0) echo stopped ;;
        1) echo "not running" ;;
        *) echo "could not stop $name" >&2; exit 1 ;;
    esac
    ;;
status)
    if running; then echo running; else echo "not running"; fi
    ;;
*)
    echo "usage: daemon.sh start|stop|status NAME PIDFILE ..." >&2
    exit 2
    ;;
esac

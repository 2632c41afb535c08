"""`bdp server|api|framework|orchestrator|users|tokens`.

`bdp server` runs the API, both controllers, the operations executor and the background
tasks (retention) in one process; `bdp api`, `bdp framework` (with retention) and
`bdp orchestrator` (with the operations executor) run them apart (against one PostgreSQL).
`users` and `tokens` act on the database directly (`products load` is the author's,
api/cli/authoring.py, and goes through the running API like any other client).
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path

log = logging.getLogger("bdp.server")

CONTROLLERS = {"framework": ("api.framework.controller", "Framework"),
               "orchestrator": ("api.orchestrator.controller", "Orchestrator"),
               "operations": ("api.orchestrator.operations", "Operations")}
# What `bdp framework` and `bdp orchestrator` run: the operations executor belongs to the
# orchestrator component (it runs playbooks).
COMPONENTS = {"framework": ("framework",), "orchestrator": ("orchestrator", "operations")}
# Background tasks that run beside a controller: pruning old rows runs wherever the
# framework does (`bdp server`, `bdp framework`).
TASKS = {"framework": [("retention", "api.core.retention", "Retention")]}


def _start(name: str, runner, stop: threading.Event) -> threading.Thread:
    t = threading.Thread(target=_run_controller, args=(name, runner, stop), name=name, daemon=True)
    t.start()
    log.info("%s running", name)
    return t


def _start_tasks(controllers, platform, stop: threading.Event) -> list[threading.Thread]:
    threads = []
    for owner in controllers:
        for name, module_name, class_name in TASKS.get(owner, []):
            task = getattr(__import__(module_name, fromlist=[class_name]), class_name)(platform)
            threads.append(_start(name, task, stop))
    return threads


def _setup_logging() -> None:
    logging.basicConfig(level=os.environ.get("BDP_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _settings(args):
    from api.core.config import Settings
    settings = Settings()
    if getattr(args, "data_dir", None):
        settings.data_dir = Path(args.data_dir).expanduser()
    if getattr(args, "engine", None):
        settings.engine = args.engine
    if getattr(args, "mesos_master", None):
        settings.mesos_master = args.mesos_master
    if getattr(args, "no_auth", False):
        settings.no_auth = True
    return settings


def _platform(args):
    from api.platform import Platform
    return Platform(_settings(args))


def _load_controller(name: str, platform):
    """The controller, or None when its module is not there yet (logged, not hidden)."""
    module_name, class_name = CONTROLLERS[name]
    try:
        module = __import__(module_name, fromlist=[class_name])
    except ImportError as e:
        log.error("%s not started: cannot import %s (%s)", name, module_name, e)
        return None
    return getattr(module, class_name)(platform)


def _run_controller(name: str, controller, stop: threading.Event) -> None:
    try:
        controller.run(stop)
    except Exception:  # noqa: BLE001 - a dead controller must be loud, not silent
        log.exception("%s stopped on an unexpected error", name)


def _prepare(args, platform) -> None:
    """What one process does before serving: the admin token, the bundles."""
    from api.catalog import bundle
    from api.core import auth
    settings = platform.settings
    if settings.no_auth:
        banner = "!" * 72
        log.warning("%s\n  AUTHENTICATION IS OFF (--no-auth): every caller is the admin.\n"
                    "  Use this only for local trials on a machine you alone use.\n%s", banner, banner)
    token = auth.bootstrap_admin(settings)
    if token:
        # Printed once: only its digest is kept (and the file, readable by this user only).
        print(f"admin token (also in {settings.data_dir / 'admin.token'}): {token}", flush=True)
    for key, result in bundle.sync_bundles(settings.products_dir).items():
        log.info("product %s: %s", key, result)


def serve(args, controllers: tuple[str, ...]) -> int:
    _setup_logging()
    from api.cli import serving
    from api.http.asgi import create_asgi
    platform = _platform(args)
    _prepare(args, platform)
    workers = getattr(args, "workers", None) or 1
    if workers > 1 and not controllers:
        create_asgi(platform, args.threads)  # default networks made once, before the fork
        platform.database.close()
        log.info("API listening on http://%s:%s%s", args.host, args.port, "/bigdata/api/v1")
        return serving.prefork(workers, args.host, args.port,
                               lambda: create_asgi(_platform(args), args.threads))
    app = create_asgi(platform, args.threads)
    stop = threading.Event()
    threads = []
    for name in controllers:
        controller = _load_controller(name, platform)
        if controller is not None:
            threads.append(_start(name, controller, stop))
    threads += _start_tasks(controllers, platform, stop)
    # uvicorn catches SIGTERM/SIGINT while it serves and raises them again once it has
    # stopped: these handlers take that second delivery quietly.
    signal.signal(signal.SIGTERM, lambda *_: None)
    signal.signal(signal.SIGINT, lambda *_: None)
    log.info("API listening on http://%s:%s%s", args.host, args.port, "/bigdata/api/v1")
    try:
        serving.server(app, args.host, args.port).run()
    finally:
        log.info("shutting down")
        stop.set()
        platform.wake()
        for t in threads:
            t.join(timeout=15)
        platform.database.close()
    return 0


def cmd_server(args) -> int:
    return serve(args, ("framework", "orchestrator", "operations"))


def cmd_api(args) -> int:
    return serve(args, ())


def cmd_controller(args) -> int:
    _setup_logging()
    platform = _platform(args)
    controllers = {name: _load_controller(name, platform) for name in COMPONENTS[args.command]}
    if None in controllers.values():
        return 1
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()
        platform.wake()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    threads = [_start(name, c, stop) for name, c in controllers.items()]
    threads += _start_tasks(COMPONENTS[args.command], platform, stop)
    for t in threads:
        while t.is_alive():  # a bounded join at a time, so the signal handler runs
            t.join(1)
    platform.database.close()
    return 0


def cmd_users_add(args) -> int:
    from peewee import IntegrityError

    from api.core.auth import add_user
    from api.http.schemas import UserCreate
    try:
        UserCreate(name=args.name)
    except ValueError:
        print(f"bdp: {args.name!r} is not a valid user name (letters, digits, . _ -)", file=sys.stderr)
        return 2
    if args.name == "me":
        print("bdp: 'me' is reserved", file=sys.stderr)
        return 2
    platform = _platform(args)
    try:
        user = add_user(args.name, admin=args.admin)
    except IntegrityError:
        print(f"bdp: user {args.name} exists", file=sys.stderr)
        return 1
    print(f"user {user.name} ({user.role}) created; give them a token with: bdp tokens create {user.name}")
    platform.database.close()
    return 0


def cmd_users_list(args) -> int:
    from api.core.models import User
    platform = _platform(args)
    for u in User.select().order_by(User.name):
        print(f"{u.name}\t{u.role}")
    platform.database.close()
    return 0


def cmd_tokens_create(args) -> int:
    from api.core.auth import create_token
    from api.core.models import User
    platform = _platform(args)
    user = User.get_or_none(User.name == args.name)
    if user is None:
        print(f"bdp: no user {args.name}; create it with: bdp users add {args.name}", file=sys.stderr)
        return 1
    if args.expires is not None and args.expires <= 0:
        print("bdp: --expires must be a positive number of days", file=sys.stderr)
        return 2
    token, row = create_token(user, args.token_name, args.expires)
    # The only time the token is shown: the registry keeps its sha256 digest.
    print(token)
    when = f"expires {row.expires.isoformat()} UTC" if row.expires else "does not expire"
    print(f"token for {user.name} ({when}); it is not shown again", file=sys.stderr)
    platform.database.close()
    return 0


def _data_dir_arg(p) -> None:
    p.add_argument("--data-dir", help="data directory (default: $BDP_DATA_DIR or ~/.local/share/bdp)")


def register(subparsers) -> None:
    for name, func, text in (("server", cmd_server, "run the API, framework and orchestrator"),
                             ("api", cmd_api, "run the API alone")):
        p = subparsers.add_parser(name, help=text)
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, default=5000)
        p.add_argument("--threads", type=int, default=8, help="request threads (event streams need none)")
        if name == "api":
            p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                           help="worker processes (default: one per core)")
        _data_dir_arg(p)
        p.add_argument("--no-auth", action="store_true", help="no tokens: every caller is the admin (trials only)")
        p.add_argument("--engine", choices=["docker", "mesos"], help="container engine (default: $BDP_ENGINE or docker)")
        p.add_argument("--mesos-master", help="Mesos master URL (engine mesos)")
        p.set_defaults(func=func)
    for name in COMPONENTS:
        p = subparsers.add_parser(name, help=f"run the {name} alone")
        _data_dir_arg(p)
        p.add_argument("--engine", choices=["docker", "mesos"])
        p.add_argument("--mesos-master")
        p.set_defaults(func=cmd_controller)

    users = subparsers.add_parser("users", help="manage users (on the database directly)")
    sub = users.add_subparsers(dest="users_command", metavar="COMMAND", required=True)
    p = sub.add_parser("add", help="create a user")
    p.add_argument("name")
    p.add_argument("--admin", action="store_true", help="give the admin role")
    _data_dir_arg(p)
    p.set_defaults(func=cmd_users_add)
    p = sub.add_parser("list", help="list users")
    _data_dir_arg(p)
    p.set_defaults(func=cmd_users_list)

    tokens = subparsers.add_parser("tokens", help="manage tokens (on the database directly)")
    sub = tokens.add_subparsers(dest="tokens_command", metavar="COMMAND", required=True)
    p = sub.add_parser("create", help="create a token for a user and print it once")
    p.add_argument("name", help="user name")
    p.add_argument("--expires", type=float, metavar="DAYS", help="days until the token expires")
    p.add_argument("--name", dest="token_name", default="", help="a label for the token")
    _data_dir_arg(p)
    p.set_defaults(func=cmd_tokens_create)

"""`bdp products list|show`: browse the catalog a user can launch from.

`products load` (publishing bundles) belongs to api.cli.server; both add to one
`products` parser, whichever module registers first creating it.
"""
from __future__ import annotations

import json

from api.cli import subcommands
from api.cli.output import json_flag, print_json, table
from api.cli.session import APIClient, as_list, command

OPTION_GROUPS = ("required", "optional", "advanced")
GROUP_LABELS = {"required": "Required options (value shown is an example)",
                "optional": "Optional options (value shown is the default)",
                "advanced": "Advanced options (value shown is the default)"}


def latest_version(versions: list[str]) -> str:
    def key(v: str):
        return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in str(v).replace("-", ".").split(".")]
    return sorted(versions, key=key)[-1]


def product_versions(api: APIClient, name: str) -> list[str]:
    return [str(v) for v in as_list(api.get(f"/products/{name}"), "versions")]


def cmd_products_list(args) -> int:
    api = APIClient()
    rows, data = [], []
    for name in as_list(api.get("/products"), "products"):
        name = name.get("name") if isinstance(name, dict) else name
        for version in product_versions(api, name):
            info = api.get(f"/products/{name}/{version}")
            data.append(info)
            rows.append([name, version, info.get("description", "")])
    if args.json:
        print_json(data)
    elif rows:
        table(["PRODUCT", "VERSION", "DESCRIPTION"], rows)
    else:
        print("No products yet. An administrator loads them with `bdp products load DIR`.")
    return 0


def cmd_products_show(args) -> int:
    api = APIClient()
    version = args.version or latest_version(product_versions(api, args.name) or ["?"])
    info = api.get(f"/products/{args.name}/{version}")
    options = api.get(f"/products/{args.name}/{version}/options") or {}
    if args.json:
        print_json({**info, "options": options})
        return 0
    print(f"{info.get('name', args.name)} {info.get('version', version)}")
    if info.get("description"):
        print(f"  {info['description']}")
    if info.get("logo_url"):
        print(f"  logo: {info['logo_url']}")
    descriptions = options.get("descriptions") or {}
    for group in OPTION_GROUPS:
        values = options.get(group) or {}
        if not values:
            continue
        print(f"\n{GROUP_LABELS[group]}:")
        table(["  OPTION", "VALUE", "DESCRIPTION"],
              [[f"  {k}", json.dumps(v), descriptions.get(k, "")] for k, v in values.items()])
    resize = (info.get("day2") or {}).get("resize")
    if resize:
        can = [w for w, ok in (("grow", resize.get("scale_out", True)), ("shrink", resize.get("scale_in"))) if ok]
        print(f"\nResizable: {', '.join(resize['options'])} ({' and '.join(can) or 'neither'}"
              + (f"; {resize['reason']}" if resize.get("reason") else "") + ")")
    print(f"\nLaunch with: bdp launch {args.name} {version} "
          + " ".join(f"-o {k}={json.dumps(v) if not isinstance(v, str) else v}"
                     for k, v in (options.get("required") or {}).items()))
    return 0


def register(subparsers) -> None:
    # `products load` belongs to the server module; list/show join the same parser.
    products = subparsers.choices.get("products") or subparsers.add_parser(
        "products", help="the product catalog")
    sub = subcommands(products, "products_command")
    p = sub.add_parser("list", help="products and versions you can launch")
    json_flag(p)
    p.set_defaults(func=command(cmd_products_list))
    p = sub.add_parser("show", help="a product's description and options")
    p.add_argument("name")
    p.add_argument("version", nargs="?", help="default: the latest version")
    json_flag(p)
    p.set_defaults(func=command(cmd_products_show))

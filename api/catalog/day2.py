"""What a product declares about life after launch (product.yml), checked and normalised:

    resize:                  # which options a running cluster may change, and how
      options: [size]
      scale_in: true         # or false, with the reason users are told
      scale_out: true        # likewise
      reason: "..."
    auto_replace: false      # the default of the cluster option `auto_replace`
    lifetime: 8h             # the default lifetime of its clusters ("" = none)

Pure functions; the registry keeps the result in `Product.day2`.
"""
from __future__ import annotations

from api.core.errors import Invalid

KEYS = ("resize", "auto_replace", "lifetime")
# Launch keys that are the platform's, beside the product's options: no product may have
# an option of these names (api/catalog/options.py refuses them).
LAUNCH_KEYS = ("lifetime", "auto_replace")


def check(meta: dict | None) -> dict:
    """product.yml's day-2 keys, normalised; Invalid naming the key at fault."""
    meta = meta or {}
    out: dict = {"resize": None, "auto_replace": False, "lifetime": ""}
    resize = meta.get("resize")
    if resize is not None:
        if not isinstance(resize, dict):
            raise Invalid("resize must be a mapping {options: [...], scale_in: true|false}", field="resize")
        unknown = sorted(set(resize) - {"options", "scale_in", "scale_out", "reason"})
        if unknown:
            raise Invalid(f"unknown key {unknown[0]!r} in resize", field=f"resize.{unknown[0]}")
        names = resize.get("options") or []
        if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
            raise Invalid("resize.options must list the option names a resize may change",
                          field="resize.options")
        scale_in, scale_out = resize.get("scale_in", True), resize.get("scale_out", True)
        for key, value in (("scale_in", scale_in), ("scale_out", scale_out)):
            if not isinstance(value, bool):
                raise Invalid(f"resize.{key} must be true or false", field=f"resize.{key}")
        reason = resize.get("reason") or ""
        if not isinstance(reason, str):
            raise Invalid("resize.reason must be text", field="resize.reason")
        if not (scale_in and scale_out) and not reason:
            raise Invalid("resize.reason must say why the product cannot scale in (or out)",
                          field="resize.reason")
        out["resize"] = {"options": names, "scale_in": scale_in, "scale_out": scale_out, "reason": reason}
    auto = meta.get("auto_replace", False)
    if not isinstance(auto, bool):
        raise Invalid("auto_replace must be true or false", field="auto_replace")
    out["auto_replace"] = auto
    lifetime = meta.get("lifetime") or ""
    if not isinstance(lifetime, str):
        raise Invalid("lifetime must be a duration such as 8h", field="lifetime")
    out["lifetime"] = lifetime
    return out


def of(product) -> dict:
    """A product's declarations (defaults for a product loaded before they existed)."""
    return check(getattr(product, "day2", None) or {})

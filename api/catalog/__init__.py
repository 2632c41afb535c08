"""Catalog: the products users launch clusters of. Creating, checking and changing
products (product.py), product bundles on disk (bundle.py), options documents and their
schema (options.py), and cluster templates: sandboxed rendering (template.py) and the
document a rendered template must be (document.py). Writes no status."""

"""The product catalog (/products) and launching a cluster of a product."""
from __future__ import annotations

import falcon
from spectree import Response

from api.catalog import product as catalog
from api.clusters.registration import launch
from api.clusters.views import job_uri
from api.core.config import API_PREFIX
from api.core.errors import Invalid, NotFound, TooLarge
from api.core.models import Product
from api.http.errors import APIError
from api.http.middleware import admin_hook, body_required_hook, require_admin
from api.http.openapi import validate
from api.http.schemas import (
    AnyObject,
    LaunchAccepted,
    LaunchOptions,
    LogoURL,
    LogoView,
    OptionsDocument,
    ProductCreate,
    ProductList,
    ProductPatch,
    ProductView,
    VersionList,
)

MAX_BODY = catalog.MAX_ORCHESTRATOR
MAX_TEXT = 4 * 1024 * 1024


def media_type(req) -> str:
    return (req.content_type or "").split(";")[0].strip().lower()


def raw_body(req, limit: int = MAX_TEXT) -> bytes:
    data = req.bounded_stream.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"the body exceeds {limit} bytes")
    return data


def text_body(req, field: str, limit: int = MAX_TEXT) -> str:
    try:
        return raw_body(req, limit).decode("utf-8")
    except UnicodeDecodeError as e:
        raise Invalid(f"the body is not UTF-8 text (byte {e.start})", field=field) from None


class ProductsResource:
    @validate(resp=Response(HTTP_200=ProductList))
    def on_get(self, req, resp):
        """Names of every product."""
        names = Product.select(Product.name).distinct().order_by(Product.name).tuples()
        resp.media = {"products": [n for (n,) in names]}

    @falcon.before(admin_hook)
    @validate(json=ProductCreate, resp=Response(HTTP_201=ProductView))
    def on_post(self, req, resp):
        """Register a product version (admin)."""
        require_admin(req)
        body = req.context.json
        product = catalog.create(body.name, body.version, body.description, body.logo_url,
                                 body.options, body.template, body.template_format, body.privileges)
        resp.status = falcon.HTTP_201
        resp.location = catalog.uri(product)
        resp.media = catalog.view(product)


class ProductResource:
    @validate(resp=Response(HTTP_200=VersionList))
    def on_get(self, req, resp, name):
        """Versions of one product."""
        versions = [v for (v,) in Product.select(Product.version).where(Product.name == name)
                    .order_by(Product.created, Product.id).tuples()]
        if not versions:
            raise NotFound(f"no product {name}")
        resp.media = {"versions": versions}


class VersionResource:
    @validate(resp=Response(HTTP_200=ProductView))
    def on_get(self, req, resp, name, version):
        """One product version: description, options, formats."""
        resp.media = catalog.view(catalog.get(name, version))

    @validate(json=LaunchOptions, resp=Response(HTTP_202=LaunchAccepted))
    def on_post(self, req, resp, name, version):
        """Launch a cluster of this product with the given options (202 + Location)."""
        product = catalog.get(name, version)
        cluster_uri, seq, job_id = launch(self.platform, req.context.user, product, req.context.json.root)
        resp.status = falcon.HTTP_202
        resp.location = cluster_uri
        resp.media = {"cluster": cluster_uri, "queue": job_uri(job_id), "id": seq, "status": "registered"}

    @falcon.before(admin_hook)
    @validate(json=ProductPatch, resp=Response(HTTP_200=ProductView))
    def on_patch(self, req, resp, name, version):
        """Change several parts of a product together; they are checked together (admin)."""
        require_admin(req)
        body = req.context.json
        product = catalog.update(catalog.get(name, version), description=body.description,
                                 logo_url=body.logo_url, options=body.options, template_text=body.template,
                                 template_format=body.template_format, image=body.image,
                                 image_hash=body.image_hash, privileges=body.privileges,
                                 day2_decl=body.day2)
        resp.media = catalog.view(product)

    @validate(resp=Response("HTTP_204"))
    def on_delete(self, req, resp, name, version):
        """Remove a product version; refused while clusters of it are not destroyed (admin)."""
        require_admin(req)
        catalog.delete(catalog.get(name, version))
        resp.status = falcon.HTTP_204

    def __init__(self, platform):
        self.platform = platform


class TemplateResource:
    def on_get(self, req, resp, name, version):
        """The raw Jinja2 template (application/json or application/yaml)."""
        product = catalog.get(name, version)
        if product.template is None:
            raise NotFound(f"product {name} {version} has no template yet")
        resp.content_type = "application/yaml" if product.template_format == "yaml" else "application/json"
        resp.text = product.template

    def on_put(self, req, resp, name, version):
        """Replace the template: the raw Jinja2 text; Content-Type says json or yaml (admin)."""
        require_admin(req)
        fmt = catalog.TEMPLATE_TYPES.get(media_type(req))
        if fmt is None:
            raise APIError(415, "Unsupported Media Type",
                           "send the template with Content-Type application/json (json+jinja2) or "
                           "application/yaml (yaml+jinja2)", field="Content-Type")
        source = text_body(req, "template")
        if not source.strip():
            raise Invalid("the template is empty", field="template")
        product = catalog.update(catalog.get(name, version), template_text=source, template_format=fmt)
        resp.media = catalog.view(product)


class OptionsResource:
    @validate(resp=Response(HTTP_200=AnyObject))
    def on_get(self, req, resp, name, version):
        """The options document: required, optional, advanced, descriptions (and schema, if written)."""
        product = catalog.get(name, version)
        if product.options is None:
            raise NotFound(f"product {name} {version} has no options yet")
        resp.media = product.options

    @falcon.before(admin_hook)
    @falcon.before(body_required_hook)
    @validate(json=OptionsDocument, resp=Response(HTTP_200=ProductView))
    def on_put(self, req, resp, name, version):
        """Replace the options document; the template is re-checked with the new defaults (admin)."""
        require_admin(req)
        doc = req.context.json.model_dump(by_alias=True)
        product = catalog.update(catalog.get(name, version), options=doc)
        resp.media = catalog.view(product)


class OrchestratorResource:
    def on_get(self, req, resp, name, version):
        """The playbook: YAML, or a tar.gz with playbook.yml and its roles."""
        product = catalog.get(name, version, with_orchestrator=True)
        if product.orchestrator is None:
            raise NotFound(f"product {name} {version} has no orchestrator yet")
        if product.orchestrator_format == "tar.gz":
            resp.content_type = "application/gzip"
        else:
            resp.content_type = "application/yaml"
        resp.data = bytes(product.orchestrator)

    def on_put(self, req, resp, name, version):
        """Replace the playbook: raw YAML, or a tar(.gz) (Content-Type application/gzip or x-tar) (admin)."""
        require_admin(req)
        product = catalog.get(name, version)
        catalog.set_orchestrator(product, raw_body(req, MAX_BODY), media_type(req))
        resp.media = catalog.view(product)


class LogoResource:
    @validate(resp=Response(HTTP_200=LogoView))
    def on_get(self, req, resp, name, version):
        """The product's logo URL."""
        resp.media = {"logo_url": catalog.get(name, version).logo_url}

    def on_put(self, req, resp, name, version):
        """Set the logo URL: {"logo_url": "..."} or the URL as text/plain (admin)."""
        require_admin(req)
        product = catalog.get(name, version)
        if media_type(req) == "application/json":
            body = req.get_media()
            try:
                url = LogoURL.model_validate(body).logo_url
            except ValueError:
                raise Invalid('send {"logo_url": "<url>"}', field="logo_url") from None
        else:
            url = text_body(req, "logo_url").strip()
        catalog.update(product, logo_url=url)
        resp.media = {"logo_url": product.logo_url}


def add_routes(app, platform) -> None:
    base = f"{API_PREFIX}/products"
    app.add_route(base, ProductsResource())
    app.add_route(base + "/{name}", ProductResource())
    app.add_route(base + "/{name}/{version}", VersionResource(platform))
    app.add_route(base + "/{name}/{version}/template", TemplateResource())
    app.add_route(base + "/{name}/{version}/options", OptionsResource())
    orchestrator = OrchestratorResource()
    app.add_route(base + "/{name}/{version}/orchestrator", orchestrator)
    app.add_route(base + "/{name}/{version}/orquestrator", orchestrator)  # the seed's spelling
    app.add_route(base + "/{name}/{version}/logo_url", LogoResource())

"""The REST API (Falcon): the app and its middleware (authentication), the one place
domain errors become HTTP statuses (errors.py), the request and response schemas that
also generate /openapi.json, every resource under resources/, and the web console's
static files. Writes `registered` and `destroying` through the clusters component."""

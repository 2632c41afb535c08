"""The API's resources, one module per area; each exposes add_routes(app, platform)."""

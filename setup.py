from setuptools import find_packages, setup

setup(
    name="bigdata-paas",
    version="0.1.0",
    description="Self-service multi-node data systems as clusters of containers",
    python_requires=">=3.11",
    packages=find_packages(include=["api", "api.*"]),
    include_package_data=True,
    package_data={"api": ["engines/data/**/*", "http/static/**/*"]},
    install_requires=[
        "falcon>=4,<5",
        "peewee>=3.17",
        "jinja2>=3.1.6",  # earlier 3.1.x have sandbox escapes (CVE-2024-56326, CVE-2025-27516)
        "pyyaml>=6",
        "pydantic>=2.6",
        "spectree>=1.2",
        # The API server (issue 13): uvicorn serves the ASGI app, so event streams hold no
        # thread each; a2wsgi hands the Falcon WSGI app the other requests; httptools and
        # uvloop are uvicorn's fast parser and loop; orjson encodes answers.
        "uvicorn>=0.30",
        "httptools>=0.6",
        "uvloop>=0.19",
        "a2wsgi>=1.10",
        "orjson>=3.10",
        # WebSockets (issue 14): uvicorn serves them with it, the proxy relays Jupyter's
        # kernels to nodes with its client, and `bdp ssh`/`port-forward` tunnel over it.
        "websockets>=15",
        "httpx>=0.27",
        "docker>=7.1",
        "ansible-core>=2.19",  # its trust model keeps inventory-plugin strings from being templated
        "ansible-runner>=2.4",
        "psycopg2-binary>=2.9",
        "cryptography>=41",  # parses users' SSH public keys (api/resources/users.py)
        # Product options' JSON Schemas (api/catalog/option_schema.py). 4.18 resolves
        # references through `referencing` and never fetches remote ones by itself.
        "jsonschema>=4.18",
    ],
    extras_require={
        "test": ["pytest>=8", "pytest-timeout>=2.3", "playwright>=1.40",
                 "pytest-xdist>=3.5",  # make test: workers overlap the tests' waits on 2 cores
                 "molecule>=25",  # molecule/: scenarios of the shared roles
                 "ruff>=0.6",  # tests/test_layout.py: pyflakes and import order
                 # tests/test_openapi_fuzz.py: fuzzes the API against /openapi.json. Pinned:
                 # its checks and CLI change between releases.
                 "schemathesis==4.32.5",
                 "pyinstrument>=4.6"],  # bench/profile_get.py: where a cluster GET spends its time
    },
    entry_points={"console_scripts": ["bdp = api.cli:main"]},
)

"""Clusters: registering a cluster from a product and a user's options in one
transaction (registration.py: status `registered`, and `destroying` on DELETE),
finding clusters and jobs with tenant isolation (queries.py), the API's views of
clusters, nodes and services (views.py) and each cluster's SSH key pair (keys.py)."""

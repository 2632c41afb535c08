"""Big Data PaaS: self-service clusters of containers configured by Ansible."""

__version__ = "0.1.0"

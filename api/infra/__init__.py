"""Infrastructure: what clusters are placed on. Hosts and their free resources
(host.py), named networks and atomic address allocation (network.py), and each host's
data disks, allocated whole to one node at a time (disk.py). Writes no status."""

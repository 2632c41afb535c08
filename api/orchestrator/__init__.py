"""The orchestrator: configures scheduled clusters with their product's Ansible
playbook through ansible-runner and a dynamic inventory. Its controller (controller.py)
moves clusters `scheduled` -> `configuring` -> `configured` -> `ready` (or `failed`,
`stopped`); runner.py runs one playbook, results.py says why a run failed, inventory.py
shapes a cluster as an inventory (also used by inventory_plugins/bdp.py).

Kept free of heavy imports: the inventory plugin loads api.orchestrator.inventory inside
ansible."""

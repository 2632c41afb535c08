"""The framework (the seed's Mesos scheduler): places a registered cluster's nodes on
hosts and starts them. Its controller loop (controller.py) moves clusters `registered`
-> `scheduling` -> `scheduled` (or `failed`) and `destroying` -> `destroyed`, and writes
node statuses `queued` -> `running` / `failed`. Its steps: placement (a pure function,
with one filter per constraint in feasible.py), allocation, launch and survey."""

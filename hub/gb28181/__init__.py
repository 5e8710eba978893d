"""GB/T 28181 in the hub: devices' state in the event log, their channels as cameras on the tree."""

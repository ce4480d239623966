"""Monitor-guided decoding benchmark: completion tasks from held-out repositories + bench script."""

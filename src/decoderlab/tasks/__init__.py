"""Tasks: what the network sees, what it must produce, and the data modules that serve it."""

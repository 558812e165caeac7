"""HTTP routers; each declares its own prefix and tags."""

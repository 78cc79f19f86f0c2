"""Use cases. Each takes the caller's session (one transaction per unit of work), never commits."""

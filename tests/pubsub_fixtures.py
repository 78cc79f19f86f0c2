"""Pub/Sub emulator fixtures (filled in with the bridge)."""

"""The `fusion-prime` command line."""

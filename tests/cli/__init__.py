"""End-to-end tests of the `omnivec` command line."""

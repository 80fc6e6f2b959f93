"""Keeping a store in step with a folder: the settings saved with a store (`config`), where stores
live (`discovery`), the incremental crash-safe pass (`updater`) and the file watcher (`watch`)."""

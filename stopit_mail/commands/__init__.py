"""The CLI's command modules, one per topic; each exposes `register(group)`."""

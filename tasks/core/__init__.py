"""The Prefect-free core: settings, errors, models, the HTTP client and the pure helpers.

Nothing under ``prefect_botpenguin.core`` imports Prefect (a test checks it in a fresh
interpreter), so the client works in any script and imports in a fraction of a second.
"""

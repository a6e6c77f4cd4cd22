"""The data model, pure: kernel rows -> typed numbers -> breakdowns; configuration. No I/O, no clocks (test/unit/test_pure_imports.py checks it)."""

"""Model providers: ``base.py`` is the seam; one adapter module per API."""

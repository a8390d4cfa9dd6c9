"""plancube's cube server: REST API, services, storage and the live feed."""

__version__ = "0.1.0"

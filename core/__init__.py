"""Settings, security, storage and logging for the service."""

__version__ = "0.1.0"

"""Errors that reach a person: each carries one clear line, never a traceback."""


class KioskError(Exception):
    """A problem the user or admin can act on; ``str(err)`` is the whole message."""

    exit_status = 2


class ConfigError(KioskError):
    """The configuration file is missing, unreadable or invalid."""


class ModelError(KioskError):
    """A model file or its manifest is missing, corrupt or inconsistent."""


class ImageError(KioskError):
    """An input image cannot be read or holds no usable face."""


class ValidationError(KioskError):
    """Input a person typed (email, password, ...) breaks a rule; the message says which."""


class StoreError(KioskError):
    """The local user store cannot be opened or used (path, schema version, template key)."""

"""Domain errors carry a message for people and, where one applies, the form field."""


class DomainError(Exception):
    def __init__(self, message, field=None):
        super().__init__(message)
        self.message = message
        self.field = field


class FieldErrors(DomainError):
    """Several messages at once, each beside its field."""

    def __init__(self, errors):
        super().__init__(" ".join(errors.values()))
        self.errors = errors

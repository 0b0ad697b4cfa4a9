"""Small typed errors the domain raises; channels turn them into catalogue
keys, routes into HTTP statuses."""


class DomainError(Exception):
    """Base of every rule the domain refuses. `key` names the catalogue entry
    (under `error.`) that explains it to a person."""

    key = "error.generic"
    status = 400

    def __init__(self, message: str = "", **values):
        super().__init__(message or self.__class__.__name__)
        self.values = values


class InvalidPhone(DomainError):
    key = "error.invalid_phone"
    status = 422


class NotFound(DomainError):
    key = "error.not_found"
    status = 404

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


class NotMobile(InvalidPhone):
    """A valid number that cannot get an SMS (a landline): not a client phone."""

    key = "codes.not_mobile"


class NotFound(DomainError):
    key = "error.not_found"
    status = 404


# ---------------------------------------------------------------- codes


class MalformedCode(DomainError):
    key = "codes.malformed"
    status = 422


class UnknownCode(DomainError):
    key = "codes.unknown"
    status = 404


class CodeExpired(DomainError):
    key = "codes.expired"
    status = 409


class CodeVoided(DomainError):
    key = "codes.voided"
    status = 409


class AlreadyRedeemed(DomainError):
    key = "codes.already_redeemed"
    status = 409


class NotOffered(DomainError):
    key = "codes.not_offered"
    status = 409


class NotIssuer(DomainError):
    key = "codes.not_issuer"
    status = 403


class WorkerInactive(DomainError):
    key = "codes.worker_inactive"
    status = 403


class Throttled(DomainError):
    """Too many unknown or malformed codes from one phone in the last hour.
    `values["notify"]` is True for the first refusal of the window (send one
    notice), False afterwards (stay silent)."""

    key = "codes.throttled"
    status = 429


# ---------------------------------------------------------------- clinics and services


class UnknownService(DomainError):
    key = "codes.unknown_service"
    status = 422


class UnknownClinic(DomainError):
    key = "codes.unknown_clinic"
    status = 422


class AmbiguousClinic(DomainError):
    key = "codes.ambiguous_clinic"
    status = 422


class ClinicInactive(DomainError):
    key = "codes.clinic_inactive"
    status = 409

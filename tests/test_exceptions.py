"""The exception tree and how errors read."""

from __future__ import annotations

import pytest

import certmail_async as cm
from certmail_async._exceptions import status_error_class


class TestTree:
    @pytest.mark.parametrize(
        ("status", "cls"),
        [
            (400, cm.BadRequestError),
            (401, cm.AuthenticationError),
            (402, cm.PaymentRequiredError),
            (403, cm.PermissionDeniedError),
            (404, cm.NotFoundError),
            (406, cm.ConflictError),
            (428, cm.ConflictError),
            (429, cm.RateLimitError),
            (500, cm.ServerError),
            (503, cm.ServerError),
            (418, cm.APIStatusError),
        ],
    )
    def test_status_classes(self, status: int, cls: type[Exception]) -> None:
        """Each HTTP status maps to its documented class, all under APIStatusError."""
        assert status_error_class(status) is cls
        assert issubclass(cls, cm.APIStatusError)

    def test_everything_is_a_certmail_error(self) -> None:
        """Every exported exception derives from CertmailError."""
        for name in cm.__all__:
            obj = getattr(cm, name)
            if isinstance(obj, type) and issubclass(obj, BaseException):
                assert issubclass(obj, cm.CertmailError), name

    def test_out_of_credits_is_permission_denied(self) -> None:
        """Catching PermissionDeniedError also catches OutOfCreditsError."""
        assert issubclass(cm.OutOfCreditsError, cm.PermissionDeniedError)

    def test_validation_error_is_value_error(self) -> None:
        """ValidationError is also a ValueError, for code that catches that."""
        assert issubclass(cm.ValidationError, ValueError)


class TestMessages:
    def test_str_names_provider_operation_status_code_message(self) -> None:
        """str(err) carries provider, operation, HTTP status, code and message in one line."""
        err = cm.PaymentRequiredError(
            "Insufficient Credit in Wallet: 182.03",
            provider="openapi_pec",
            operation="mailboxes.register",
            status=402,
            code=262,
        )
        assert str(err) == (
            "openapi_pec mailboxes.register: HTTP 402, code 262: Insufficient Credit in Wallet: 182.03"
        )
        assert "PaymentRequiredError(provider='openapi_pec'" in repr(err)

    def test_delivery_unknown_warns_against_resending(self) -> None:
        """DeliveryUnknownError says the send may have happened and keeps its cause."""
        cause = cm.ServerError("MySQL Error 1205", status=500, provider="pecmassiva")
        err = cm.DeliveryUnknownError(
            "MySQL Error 1205",
            cause=cause,
            provider="pecmassiva",
            operation="sends.create",
            status=500,
        )
        assert "may or may not have happened" in str(err)
        assert err.cause is cause
        assert err.status == 500

    def test_validation_error_names_field(self) -> None:
        """A ValidationError names the offending field."""
        err = cm.ValidationError(
            "must not be empty", field="subject", provider="pecmassiva", operation="sends.create"
        )
        assert str(err) == "pecmassiva sends.create: subject: must not be empty"

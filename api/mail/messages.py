"""The text of each message the service sends: (subject, body), plain text. Links point to
the client application (APP_BASE_URL), which calls the API with the token."""

from __future__ import annotations

from urllib.parse import quote

Message = tuple[str, str]


def link(base_url: str, page: str, token: str) -> str:
    return f"{base_url}/{page}?token={quote(token, safe='')}"


def invitation(base_url: str, organization: str, role: str, token: str, valid_days: int) -> Message:
    return (
        f"You are invited to join {organization}",
        f"You have been invited to join {organization} as {role}.\n\n"
        f"Accept the invitation here (valid for {valid_days} days, once):\n"
        f"{link(base_url, 'accept-invitation', token)}\n\n"
        "If you did not expect this, ignore this message.\n",
    )


def password_reset(base_url: str, token: str, valid_minutes: int) -> Message:
    return (
        "Reset your password",
        "Someone asked to reset the password of the account with this address.\n\n"
        f"Choose a new password here (valid for {valid_minutes} minutes, once):\n"
        f"{link(base_url, 'reset-password', token)}\n\n"
        "If it was not you, ignore this message: your password stays as it is.\n",
    )


def email_verification(base_url: str, token: str, valid_hours: int) -> Message:
    return (
        "Confirm your email address",
        "Someone, hopefully you, signed up with this address.\n\n"
        f"Confirm it here (valid for {valid_hours} hours, once):\n"
        f"{link(base_url, 'verify-email', token)}\n\n"
        "If it was not you, ignore this message: nothing happens without it.\n",
    )


def registration_notice(base_url: str, reset_token: str, valid_minutes: int) -> Message:
    return (
        "Someone tried to register with your address",
        "Someone tried to register a new account with this address, which already has one. No\n"
        "second account was made.\n\n"
        "If it was you and you forgot your password, choose a new one here\n"
        f"(valid for {valid_minutes} minutes, once):\n"
        f"{link(base_url, 'reset-password', reset_token)}\n\n"
        "Otherwise, ignore this message.\n",
    )


def password_changed(how: str) -> Message:
    return (
        "Your password was changed",
        f"The password of the account with this address was {how}. Every other sign-in has ended.\n\n"
        "If this was not you, reset your password at once from the sign-in page.\n",
    )

"""Under gunicorn (as `make run` and the container serve), mail is delivered by the workers'
own loops: nothing else runs, nobody calls a route, and the message arrives."""

from __future__ import annotations

from pathlib import Path

from tests.acceptance.conftest import call, register, serving_fresh_database
from tests.mail_server import MailServer, token_in


def test_a_reset_link_arrives_from_the_running_service(
    server_url: str, template_database: str, owner_role: str, tmp_path: Path
) -> None:
    mail = MailServer()
    mail.start()
    try:
        env = {
            "JWT_ACCESS_SECRET": "mailing-" + "m" * 40,
            "SMTP_URL": mail.url,
            "APP_BASE_URL": "https://app.example.com",
            "WEB_CONCURRENCY": "2",
        }
        with serving_fresh_database(server_url, template_database, owner_role, tmp_path, env) as server:
            register(server.url, "served@example.com", "served password 1", "Served")
            status, body = call(server.url, "POST", "/auth/password-reset", {"email": "served@example.com"})
            assert (status, body) == (202, {"status": "reset_sent"})
            (message,) = [m for m in mail.wait_for("served@example.com", 2, 15) if "reset-password" in m.get_content()]
            token = token_in(message, "reset-password")
            assert "https://app.example.com/reset-password?token=" in message.get_content()
            confirm = {"token": token, "new_password": "a new served password"}
            assert call(server.url, "POST", "/auth/password-reset/confirm", confirm)[0] == 204
            notices = [m["Subject"] for m in mail.wait_for("served@example.com", count=3, timeout=15)]
            # With the verification link of the registration, in whichever order the workers sent them.
            assert sorted(notices) == ["Confirm your email address", "Reset your password", "Your password was changed"]
    finally:
        mail.stop()

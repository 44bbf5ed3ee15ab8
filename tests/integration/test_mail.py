"""Mail through the transactional outbox to a real SMTP server (aiosmtpd in this process):
password reset, the notice of a changed password, an SMTP outage, giving up, the cron route
for serverless, and that a message is written with its change or not at all."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Iterator

import pytest

from tests.integration.conftest import PASSWORD, Api, AppFactory, Sql, Tenant, run
from tests.mail_server import MailServer, token_in

NEW_PASSWORD = "a brand new passphrase"
CRON_SECRET = "c" * 40


@pytest.fixture
def mail_server() -> Iterator[MailServer]:
    server = MailServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def mailing(make_api: AppFactory, mail_server: MailServer) -> Api:
    return make_api(SMTP_URL=mail_server.url, MAIL_RETRY_BASE_SECONDS="1", CRON_SECRET=CRON_SECRET)


def ask_reset(api: Api, email: str) -> None:
    asked = api.post("/auth/password-reset", {"email": email})
    assert asked.status_code == 202, asked.json
    assert asked.json == {"status": "reset_sent"}


def test_a_password_reset_link_arrives_and_replaces_the_password(
    mailing: Api, mail_server: MailServer, tenant: Tenant, owner: Sql
) -> None:
    user = tenant.user
    other_device = mailing.login(user.email)
    ask_reset(mailing, user.email)
    mailing.deliver_mail()
    (mail,) = mail_server.wait_for(user.email)
    assert mail["Subject"] == "Reset your password"
    assert mail["From"] == "tenant-iam <no-reply@localhost>"
    token = token_in(mail, "reset-password")
    assert mail.get_content().count("http://localhost:3000/reset-password?token=") == 1

    confirm = {"token": token, "new_password": NEW_PASSWORD}
    assert mailing.post("/auth/password-reset/confirm", confirm).status_code == 204
    # Every session ends: the remedy when someone else held the account.
    for session in (user, other_device):
        assert mailing.get("/auth/me", as_=session).status_code == 401
    assert mailing.post("/auth/login", {"email": user.email, "password": PASSWORD}).status_code == 401
    assert mailing.post("/auth/login", {"email": user.email, "password": NEW_PASSWORD}).status_code == 200
    # Single use.
    again = mailing.post("/auth/password-reset/confirm", confirm)
    assert again.status_code == 400
    assert again.headers["content-type"] == "application/problem+json"
    # The owner is told, and the trail records it.
    mailing.deliver_mail()
    notices = [m for m in mail_server.wait_for(user.email, 2) if m["Subject"] == "Your password was changed"]
    assert len(notices) == 1
    recorded = owner.execute(
        "SELECT count(*) FROM iam.audit_events WHERE action = 'password.reset' AND resource_id = %s", [user.user_id]
    ).fetchone()
    assert recorded == (1,)
    # Delivered: the body, and the link in it, are gone from the database.
    kept = owner.execute("SELECT count(*) FROM iam.outbox_messages WHERE body IS NOT NULL AND kind LIKE 'password%'")
    assert kept.fetchone() == (0,)


def test_unknown_used_and_expired_tokens_get_the_same_answer(mailing: Api, tenant: Tenant, owner: Sql) -> None:
    ask_reset(mailing, tenant.user.email)
    owner.execute("UPDATE iam.password_reset_tokens SET expires_at = now() - interval '1 second'")
    answers = []
    for token in ("never-issued-token", "x" * 43):
        result = mailing.post("/auth/password-reset/confirm", {"token": token, "new_password": NEW_PASSWORD})
        answers.append((result.status_code, result.json["detail"]))
    assert answers[0] == answers[1]
    assert answers[0][0] == 400


def test_unknown_addresses_get_the_same_answer_and_no_mail(mailing: Api, owner: Sql) -> None:
    ask_reset(mailing, "nobody-here@example.com")
    assert owner.execute("SELECT count(*) FROM iam.outbox_messages WHERE kind LIKE 'password%'").fetchone() == (0,)
    assert owner.execute("SELECT count(*) FROM iam.password_reset_tokens").fetchone() == (0,)


def test_reset_requests_take_as_long_for_unknown_addresses(make_api: AppFactory, tenant: Tenant) -> None:
    """Not a speed target: the answer comes at a fixed time after the request, whether the
    address has an account (a token, a queued mail) or not (nothing)."""
    mailing = make_api(MAIL_MIN_INTERVAL_SECONDS="0", PASSWORD_RESETS_PER_ADDRESS="1000")
    timings: dict[str, list[float]] = {"known": [], "unknown": []}
    for n in range(8):
        for kind, email in (("known", tenant.user.email), ("unknown", f"nobody-{n}@example.com")):
            started = time.perf_counter()
            ask_reset(mailing, email)
            timings[kind].append(time.perf_counter() - started)
    known, unknown = (statistics.median(samples) for samples in timings.values())
    assert 0.9 < unknown / known < 1.1, (known, unknown)


def test_reset_mail_to_one_address_is_limited(mailing: Api, mail_server: MailServer, tenant: Tenant) -> None:
    """Asking again and again answers 202 each time, and the address gets one link a minute."""
    for _ in range(5):
        ask_reset(mailing, tenant.user.email)
    mailing.deliver_mail()
    time.sleep(0.3)
    assert len(mail_server.to(tenant.user.email)) == 1


def test_reset_requests_from_one_address_are_limited(make_api: AppFactory, tenant: Tenant, owner: Sql) -> None:
    api = make_api(PASSWORD_RESETS_PER_ADDRESS="2", MAIL_MIN_INTERVAL_SECONDS="0")
    for _ in range(4):
        ask_reset(api, tenant.user.email)  # 202 every time: the answer tells nothing
    assert owner.execute("SELECT count(*) FROM iam.outbox_messages WHERE kind LIKE 'password%'").fetchone() == (2,)


def test_an_smtp_outage_loses_nothing_and_fails_no_request(
    mailing: Api, mail_server: MailServer, tenant: Tenant, owner: Sql
) -> None:
    mail_server.stop()
    ask_reset(mailing, tenant.user.email)
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    assert mailing.post("/auth/change-password", body, as_=tenant.admin).status_code == 204
    mailing.deliver_mail()
    # Each was tried (by this round, or by the delivery each request started), and kept.
    tried = owner.execute(
        "SELECT attempts, sent_at IS NULL, body IS NOT NULL FROM iam.outbox_messages WHERE kind LIKE 'password%'"
    ).fetchall()
    assert tried == [(1, True, True), (1, True, True)]
    mail_server.start()
    mailing.deliver_mail()  # not due yet: tried again after a backoff
    assert mail_server.inbox.messages == []
    time.sleep(1.1)
    mailing.deliver_mail()
    assert [m["Subject"] for m in mail_server.wait_for(tenant.user.email)] == ["Reset your password"]
    assert [m["Subject"] for m in mail_server.wait_for(tenant.admin.email)] == ["Your password was changed"]
    delivered = owner.execute(
        "SELECT attempts, last_error IS NULL, body IS NULL FROM iam.outbox_messages WHERE kind LIKE 'password%'"
    ).fetchall()
    assert delivered == [(2, True, True), (2, True, True)]


def test_a_message_is_given_up_after_its_tries(
    make_api: AppFactory, mail_server: MailServer, tenant: Tenant, owner: Sql
) -> None:
    api = make_api(SMTP_URL=mail_server.url, MAIL_RETRY_BASE_SECONDS="1", MAIL_MAX_ATTEMPTS="2")
    mail_server.stop()
    ask_reset(api, tenant.user.email)
    api.deliver_mail()
    time.sleep(1.1)
    api.deliver_mail()
    kept = owner.execute(
        "SELECT body, gave_up_at IS NOT NULL, last_error FROM iam.outbox_messages WHERE kind LIKE 'password%'"
    ).fetchone()
    assert kept is not None
    assert kept[:2] == (None, True)  # the link is gone with the message
    assert "Connection refused" in str(kept[2]) or "Errno" in str(kept[2])


def test_a_rolled_back_change_sends_nothing(mailing: Api, tenant: Tenant, owner: Sql) -> None:
    wrong = {"current_password": "not the password at all", "new_password": NEW_PASSWORD}
    assert mailing.post("/auth/change-password", wrong, as_=tenant.user).status_code == 401
    refused = {"token": "never-issued-token", "new_password": NEW_PASSWORD}
    assert mailing.post("/auth/password-reset/confirm", refused).status_code == 400
    with owner.transaction():
        owner.execute("SET LOCAL ROLE iam_api")
        owner.execute("SELECT iam.queue_mail('password_changed', 'a@example.com', 's', 'b', 0)")
        owner.execute("ROLLBACK")
    assert owner.execute("SELECT count(*) FROM iam.outbox_messages WHERE kind LIKE 'password%'").fetchone() == (0,)


def test_two_instances_delivering_at_once_send_each_message_once(
    make_api: AppFactory, mail_server: MailServer, owner: Sql
) -> None:
    first, second = (make_api(SMTP_URL=mail_server.url) for _ in range(2))
    # Queued as a request would, without a request's own delivery: only the two instances deliver.
    emails = [f"many-{n}@example.com" for n in range(30)]
    for email in emails:
        owner.execute("SELECT iam.queue_mail('password_changed', %s, 'Subject', 'Body', 0)", [email])

    async def both() -> None:
        await asyncio.gather(*(api.outbox.deliver_due() for api in (first, second, first, second)))

    run(both())
    for email in emails:
        assert len(mail_server.wait_for(email)) == 1, email
    assert owner.execute("SELECT count(*) FROM iam.outbox_messages WHERE sent_at IS NULL").fetchone() == (0,)


def test_the_cron_route_delivers_with_the_secret_only(
    mailing: Api, make_api: AppFactory, mail_server: MailServer, tenant: Tenant
) -> None:
    ask_reset(mailing, tenant.user.email)
    assert mailing.get("/cron/outbox").status_code == 401
    assert mailing.get("/cron/outbox", headers={"Authorization": "Bearer " + "x" * 40}).status_code == 401
    ran = mailing.get("/cron/outbox", headers={"Authorization": f"Bearer {CRON_SECRET}"})
    assert ran.status_code == 200
    assert ran.json["sent"] + len(mail_server.to(tenant.user.email)) >= 1
    assert len(mail_server.wait_for(tenant.user.email)) == 1
    # Without CRON_SECRET there is no such route.
    assert make_api().get("/cron/outbox", headers={"Authorization": f"Bearer {CRON_SECRET}"}).status_code == 404

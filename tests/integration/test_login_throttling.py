"""Login throttling, counted in PostgreSQL: per (email, address) pair and per client address,
with only a slowdown per email; atomic under parallel guesses, shared by every instance,
blind to whether an account exists, bounded in size; and password hashing under a
per-process limit."""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from typing import Any, Literal

import falcon.testing
from argon2 import PasswordHasher

from api.auth.passwords import Passwords
from tests.integration.conftest import PASSWORD, Api, AppFactory, Call, Sql, run

WRONG = "not the password at all"


class CountingPasswords(Passwords):
    """The real hasher, counting how many password checks ran."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.verified = 0

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        matched = await super().verify(stored_hash, password)  # raises HashingBusy before any check
        self.verified += 1
        return matched


def login(api: Api, email: str, password: str = WRONG, **kwargs: Any) -> falcon.testing.Result:
    return api.post("/auth/login", {"email": email, "password": password}, **kwargs)


def assert_throttled(result: falcon.testing.Result, window: int = 900) -> None:
    assert result.status_code == 429, result.text
    assert result.headers["content-type"] == "application/problem+json"
    assert 1 <= int(result.headers["retry-after"]) <= window


def test_a_pair_is_refused_after_its_failures_and_the_owner_elsewhere_is_not(make_api: AppFactory) -> None:
    """Ten wrong passwords from anywhere used to lock the account for every address, even
    with the right password. Now the hard limit is the (email, address) pair's."""
    api = make_api(LOGIN_MAX_FAILURES="3")
    victim, bystander = api.register("victim@example.com"), api.register("bystander@example.com")
    stranger, owner = {"remote_addr": "203.0.113.9"}, {"remote_addr": "198.51.100.4"}
    assert [login(api, victim.email, **stranger).status_code for _ in range(3)] == [401, 401, 401]
    # The stranger's address is refused for this email, even with the right password...
    assert_throttled(login(api, victim.email, PASSWORD, **stranger))
    # ...and the owner, from their own address, is not.
    assert login(api, victim.email, PASSWORD, **owner).status_code == 200
    # One throttled pair never blocks another account from the same address.
    assert login(api, bystander.email, PASSWORD, **stranger).status_code == 200
    # Successful logins are not failures.
    assert [login(api, bystander.email, PASSWORD, **stranger).status_code for _ in range(4)] == [200] * 4


def test_guesses_from_many_addresses_slow_the_email_down_without_locking_its_owner(make_api: AppFactory) -> None:
    """Distributed guessing: past LOGIN_EMAIL_FREE_FAILURES in an hour, one email's checks are
    spaced out. 20 guesses at once from 20 addresses get the free checks plus the turns
    within one spacing; the rest are told when to come back. The owner, from a fresh
    address, gets in after waiting a turn."""
    passwords = CountingPasswords(queue=30, wait_seconds=10, per_client=100)
    api = make_api(passwords, LOGIN_EMAIL_FREE_FAILURES="3", LOGIN_EMAIL_MAX_SPACING_SECONDS="1")
    target = api.register("target@example.com")
    passwords.verified = 0
    guesses: list[Call] = [
        ("POST", "/auth/login", {"json": {"email": target.email, "password": WRONG}, "remote_addr": f"192.0.2.{n}"})
        for n in range(20)
    ]
    answers = api.parallel(guesses)
    # 3 free checks, then turns now and one second later; a turn further away is a 429.
    assert passwords.verified == 5
    assert sorted(answer.status_code for answer in answers) == [401] * 5 + [429] * 15
    assert {answer.headers["retry-after"] for answer in answers if answer.status_code == 429} <= {"1", "2"}
    time.sleep(1.1)
    started = time.monotonic()
    assert login(api, target.email, PASSWORD, remote_addr="198.51.100.200").status_code == 200
    assert time.monotonic() - started < 5


def test_an_address_the_owner_signed_in_from_is_not_slowed_down(make_api: AppFactory, owner: Sql) -> None:
    api = make_api(LOGIN_EMAIL_FREE_FAILURES="2", LOGIN_EMAIL_MAX_SPACING_SECONDS="30")
    user = api.register("owner@example.com")
    home, fresh = {"remote_addr": "198.51.100.10"}, {"remote_addr": "198.51.100.11"}
    assert login(api, user.email, PASSWORD, **home).status_code == 200
    for n in range(2):
        assert login(api, user.email, remote_addr=f"192.0.2.{n}").status_code == 401
    # An attack in progress: the email's next turn is 25 s away (at most one spacing, 30 s).
    owner.execute("UPDATE iam.attempt_counters SET next_check_at = now() + interval '25 seconds'")
    refused = login(api, user.email, PASSWORD, **fresh)
    assert_throttled(refused, window=30)
    assert 10 <= int(refused.headers["retry-after"]) <= 15  # the turn, less the 10 s a login may wait
    started = time.monotonic()
    assert login(api, user.email, PASSWORD, **home).status_code == 200
    assert time.monotonic() - started < 5


def test_the_window_passes(make_api: AppFactory) -> None:
    api = make_api(LOGIN_MAX_FAILURES="2", LOGIN_WINDOW_SECONDS="2", LOGIN_EMAIL_FREE_FAILURES="100")
    user = api.register()
    login(api, user.email)
    login(api, user.email)
    assert_throttled(login(api, user.email, PASSWORD), window=2)
    time.sleep(2.1)
    assert login(api, user.email, PASSWORD).status_code == 200


def test_parallel_guesses_get_at_most_the_limit_of_password_checks(make_api: AppFactory) -> None:
    # A generous share per client: this is about the counters in the database.
    passwords = CountingPasswords(queue=30, wait_seconds=10, per_client=100)
    api = make_api(passwords, LOGIN_MAX_FAILURES="10")
    target = api.register("target@example.com")
    passwords.verified = 0
    guess = ("POST", "/auth/login", {"json": {"email": target.email, "password": WRONG}})
    statuses = [result.status_code for result in api.parallel([guess] * 30)]
    assert passwords.verified == 10
    assert statuses.count(401) == passwords.verified
    assert statuses.count(429) == 30 - passwords.verified
    assert_throttled(login(api, target.email, PASSWORD))


def test_unknown_emails_are_counted_and_answered_like_known_ones(make_api: AppFactory) -> None:
    api = make_api(LOGIN_MAX_FAILURES="2")
    known = api.register("known@example.com")
    answers = {}
    for email in (known.email, "unknown@example.com"):
        results = [login(api, email) for _ in range(3)]
        answers[email] = [(r.status_code, r.json["title"], r.json["detail"]) for r in results]
    assert answers[known.email] == answers["unknown@example.com"]
    assert [status for status, _, _ in answers[known.email]] == [401, 401, 429]


def test_failed_logins_take_as_long_for_unknown_emails(make_api: AppFactory) -> None:
    """Not a speed target: the two answers must cost the same work (one Argon2 check, the
    same round trips), so their medians stay close however fast the machine is."""
    api = make_api(LOGIN_MAX_FAILURES="1000", LOGIN_MAX_FAILURES_PER_IP="1000", LOGIN_EMAIL_FREE_FAILURES="1000")
    known = api.register()
    timings: dict[str, list[float]] = {known.email: [], "nobody@example.com": []}
    for _ in range(15):
        for email, samples in timings.items():
            started = time.perf_counter()
            assert login(api, email).status_code == 401
            samples.append(time.perf_counter() - started)
    known_median, unknown_median = (statistics.median(samples) for samples in timings.values())
    assert 0.75 < unknown_median / known_median < 1.33, (known_median, unknown_median)


def test_a_client_address_is_throttled_across_emails(make_api: AppFactory) -> None:
    api = make_api(LOGIN_MAX_FAILURES_PER_IP="4")
    for n in range(4):
        assert login(api, f"spray-{n}@example.com", remote_addr="198.51.100.7").status_code == 401
    assert_throttled(login(api, "spray-9@example.com", remote_addr="198.51.100.7"))
    assert login(api, "spray-9@example.com", remote_addr="198.51.100.8").status_code == 401
    # IPv6 clients are counted per /64.
    for n in range(4):
        login(api, f"v6-{n}@example.com", remote_addr=f"2001:db8:1:2::{n + 1}")
    assert_throttled(login(api, "v6-9@example.com", remote_addr="2001:db8:1:2:ffff::9"))
    assert login(api, "v6-9@example.com", remote_addr="2001:db8:1:3::1").status_code == 401


def test_forwarded_addresses_count_only_behind_a_trusted_proxy(make_api: AppFactory) -> None:
    behind_proxy = make_api(LOGIN_MAX_FAILURES_PER_IP="2", TRUSTED_PROXIES="127.0.0.1/32, 10.0.0.0/8")
    forwarded = {"X-Forwarded-For": "203.0.113.5, 10.1.2.3"}
    assert login(behind_proxy, "a@example.com", headers=forwarded).status_code == 401
    assert login(behind_proxy, "b@example.com", headers=forwarded).status_code == 401
    assert_throttled(login(behind_proxy, "c@example.com", headers=forwarded))
    # A client that writes its own X-Forwarded-For is still counted by the right-most untrusted hop.
    spoofed = {"X-Forwarded-For": "192.0.2.99, 203.0.113.5, 10.1.2.3"}
    assert_throttled(login(behind_proxy, "d@example.com", headers=spoofed))
    assert login(behind_proxy, "d@example.com", headers={"X-Forwarded-For": "203.0.113.6"}).status_code == 401

    # Without trusted proxies the header is ignored: the socket peer is counted.
    direct = make_api(LOGIN_MAX_FAILURES_PER_IP="2")
    for n in range(2):
        login(direct, f"e{n}@example.com", remote_addr="198.51.100.50", headers={"X-Forwarded-For": f"192.0.2.{n}"})
    assert_throttled(
        login(direct, "f@example.com", remote_addr="198.51.100.50", headers={"X-Forwarded-For": "192.0.2.77"})
    )


def test_on_vercel_the_edges_header_is_the_client(make_api: AppFactory) -> None:
    """Every request reaches a Vercel function from Vercel's own addresses: counted by the
    socket peer, 100 failures from anyone would throttle everyone. With CLIENT_ADDRESS_HEADER
    each client is counted by the address the edge wrote."""
    edge = make_api(LOGIN_MAX_FAILURES_PER_IP="2", CLIENT_ADDRESS_HEADER="x-real-ip")
    attacker = {"X-Real-IP": "203.0.113.66"}
    for n in range(2):
        assert login(edge, f"sprayed-{n}@example.com", remote_addr="10.9.9.9", headers=attacker).status_code == 401
    assert_throttled(login(edge, "sprayed-9@example.com", remote_addr="10.9.9.9", headers=attacker))
    # Another client behind the same edge address is not throttled with the attacker.
    bystander = {"X-Real-IP": "198.51.100.23"}
    assert login(edge, "sprayed-9@example.com", remote_addr="10.9.9.9", headers=bystander).status_code == 401


def test_clients_without_an_address_do_not_share_one_counter(make_api: AppFactory) -> None:
    """A request whose address header is missing (or unparsable) is counted with its email
    alone, never in one "unknown" counter that any such client could fill for all."""
    api = make_api(LOGIN_MAX_FAILURES_PER_IP="2", CLIENT_ADDRESS_HEADER="x-real-ip")
    for n in range(5):
        assert login(api, f"nowhere-{n}@example.com").status_code == 401


def test_two_instances_share_the_counters(make_api: AppFactory) -> None:
    first, second = make_api(LOGIN_MAX_FAILURES="3"), make_api(LOGIN_MAX_FAILURES="3")
    user = first.register()
    login(first, user.email)
    login(second, user.email)
    login(first, user.email)
    assert_throttled(login(second, user.email, PASSWORD))
    assert_throttled(login(first, user.email, PASSWORD))


def test_throttling_is_recorded_once_per_window(make_api: AppFactory, owner: Sql) -> None:
    api = make_api(LOGIN_MAX_FAILURES="2")
    user = api.register()
    for _ in range(5):
        login(api, user.email)
    actions = owner.execute(
        "SELECT action, count(*) FROM iam.audit_events WHERE action LIKE 'login.%%' GROUP BY action ORDER BY action"
    ).fetchall()
    assert actions == [("login.failed", 2), ("login.throttled", 1)]


def test_a_wrong_current_password_counts_as_a_failed_login(make_api: AppFactory) -> None:
    api = make_api(LOGIN_MAX_FAILURES="2")
    user = api.register()
    body = {"current_password": WRONG, "new_password": "a brand new passphrase"}
    assert api.post("/auth/change-password", body, as_=user).status_code == 401
    assert login(api, user.email).status_code == 401
    assert_throttled(api.post("/auth/change-password", {**body, "current_password": PASSWORD}, as_=user))
    assert_throttled(login(api, user.email, PASSWORD))


def test_the_counters_do_not_grow_without_bound(make_api: AppFactory, owner: Sql) -> None:
    api = make_api(LOGIN_WINDOW_SECONDS="60")
    owner.execute(
        "INSERT INTO iam.attempt_counters (subject, window_ends_at, failures)"
        " SELECT sha256(n::text::bytea), now() - interval '1 second', 3 FROM generate_series(1, 50) AS n"
    )
    owner.execute(
        "INSERT INTO iam.known_sign_in_clients (pair, last_signed_in_at)"
        " SELECT sha256(n::text::bytea), now() - interval '31 days' FROM generate_series(1, 30) AS n"
    )
    login(api, "anyone@example.com")
    ended = "SELECT count(*) FROM iam.attempt_counters WHERE window_ends_at <= now()"
    assert owner.execute(ended).fetchone() == (30,)  # every attempt clears up to 20 ended counters
    assert owner.execute("SELECT count(*) FROM iam.known_sign_in_clients").fetchone() == (10,)
    purged = owner.execute("SELECT * FROM iam.purge_expired()").fetchone()
    assert purged == (30, 0)
    # The live pair, address and email.
    assert owner.execute("SELECT count(*) FROM iam.attempt_counters").fetchone() == (3,)
    assert owner.execute("SELECT count(*) FROM iam.known_sign_in_clients").fetchone() == (0,)


class GatedHasher(PasswordHasher):
    """Argon2 whose checks wait for a signal: the test decides how long a slot stays taken."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.checking = threading.Event()
        self.go_on = threading.Event()

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.checking.set()
        self.go_on.wait(timeout=10)
        return super().verify(hash, password)


def test_hashing_beyond_the_limit_is_503_without_hashing(make_api: AppFactory, owner: Sql) -> None:
    hasher = GatedHasher()
    # One waiting place and a generous share per client: this is about the queue.
    passwords = CountingPasswords(hasher=hasher, wait_seconds=0.1, queue=1, per_client=100)
    api = make_api(passwords)
    owner.execute(
        "INSERT INTO iam.users (email, password_hash) VALUES ('slow@example.com', %s)", [run(passwords.hash(PASSWORD))]
    )
    clients = falcon.testing.ASGIConductor(api.client.app)

    async def log_in() -> falcon.testing.Result:
        return await clients.simulate_post("/auth/login", json={"email": "slow@example.com", "password": WRONG})

    async def scenario() -> None:
        first = asyncio.create_task(log_in())
        # The one slot is taken: its check waits on the hashing thread, not on the event loop.
        assert await asyncio.get_running_loop().run_in_executor(None, hasher.checking.wait, 10)
        busy = await log_in()
        assert busy.status_code == 503
        assert busy.headers["retry-after"] == "1"
        assert busy.headers["content-type"] == "application/problem+json"
        registering = await clients.simulate_post(
            "/auth/register", json={"email": "new@example.com", "password": PASSWORD, "organization_name": "N"}
        )
        assert registering.status_code == 503
        # Past the queue (1 waiting by default), refusals come at once instead of after the wait.
        waiting = asyncio.create_task(log_in())
        await asyncio.sleep(0.02)
        started = time.monotonic()
        assert (await log_in()).status_code == 503
        assert time.monotonic() - started < 0.09
        assert (await waiting).status_code == 503
        hasher.go_on.set()
        assert (await first).status_code == 401

    run(scenario())
    assert passwords.verified == 1
    # The refused attempt was given back: only the one that was checked counts.
    counted = owner.execute("SELECT max(failures) FROM iam.attempt_counters").fetchone()
    assert counted == (1,)
    assert owner.execute("SELECT count(*) FROM iam.users WHERE email = 'new@example.com'").fetchone() == (0,)


def login_call(email: str, address: str) -> Call:
    return ("POST", "/auth/login", {"json": {"email": email, "password": PASSWORD}, "remote_addr": address})


def test_a_crowd_logging_in_at_once_is_served_not_refused(api: Api) -> None:
    """25 users (one worker's share of 50) at the same moment: they wait their turn for the
    one hashing slot, as coroutines, and every one gets in. A queue of one refused 21 of them."""
    users = [api.register(f"crowd-{n}@example.com") for n in range(25)]
    answers = api.parallel(
        [
            (
                "POST",
                "/auth/login",
                {"json": {"email": user.email, "password": PASSWORD}, "remote_addr": f"198.51.100.{n}"},
            )
            for n, user in enumerate(users)
        ]
    )
    assert [answer.status_code for answer in answers] == [200] * 25


def test_one_client_flooding_logins_cannot_take_everyone_elses_turn(api: Api) -> None:
    """20 logins at once from one address (with its own right password) beside 10 real
    users from other addresses: the flooder holds at most its share of the waiting places
    (429 past it, before any database work) and every real user gets in."""
    flooder = api.register("flooder@example.com")
    users = [api.register(f"real-{n}@example.com") for n in range(10)]
    flood = (
        "POST",
        "/auth/login",
        {"json": {"email": flooder.email, "password": PASSWORD}, "remote_addr": "203.0.113.99"},
    )
    real = [
        ("POST", "/auth/login", {"json": {"email": user.email, "password": PASSWORD}, "remote_addr": f"198.51.100.{n}"})
        for n, user in enumerate(users)
    ]
    answers = api.parallel([flood] * 20 + real)
    flooded, served = answers[:20], answers[20:]
    assert [answer.status_code for answer in served] == [200] * 10
    assert sorted(answer.status_code for answer in flooded) == [200] * 2 + [429] * 18
    assert all(answer.headers["retry-after"] == "1" for answer in flooded if answer.status_code == 429)

"""Console accounts: who a person is, their password (argon2id) and their second factor (TOTP).

A person logs in with an e-mail address and a password, then a TOTP code
(:func:`check_password`, :func:`check_totp`); only then does the console open
a session (:mod:`server.accounts.sessions`).  Rules:

* Passwords are hashed with argon2id (argon2-cffi's defaults: 64 MiB, 3 passes),
  and re-hashed when those defaults change.  At least :data:`MIN_PASSWORD` characters.
* A wrong password or code is a guess: counted per account and per client
  (:data:`server.ratelimit.CONSOLE_LOGINS`, in memory), and in the account
  itself: after ``login_lockout_failures`` in a row the account is locked for
  ``login_lockout_minutes`` (423 ``account_locked``), even for the right password.
* An unknown e-mail address and a wrong password answer the same
  ``401 login_failed``, and take the same time (a hash is checked either way).
* TOTP: 30 s steps, a code of the step before or after counts too, and each
  step's code counts once (a code seen over a shoulder cannot be used again).
"""

from __future__ import annotations

import functools
import hmac
import secrets
from typing import Final

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from protocol import Reason
from server.accounts.settings import account_settings
from server.context import ServerContext
from server.errors import InputError, ServiceError
from server.inputs import refused_char
from server.ratelimit import Attempt
from server.storage import ReadTx, Tx
from server.storage.accounts import PersonRow

MIN_PASSWORD: Final = 10
MAX_PASSWORD: Final = 200
MAX_EMAIL: Final = 254
TOTP_STEP_S: Final = 30
TOTP_DIGITS: Final = 6
ISSUER: Final = "kokreativ"

_HASHER: Final = PasswordHasher()  # argon2id


@functools.cache
def _dummy_hash() -> str:
    """Checked when the e-mail address is unknown, so that answer takes as long as a wrong password's.

    Made at the first login, not at import: every process that imports the
    server (each CLI command) would otherwise spend an argon2 hash on nothing.
    """
    return _HASHER.hash(secrets.token_urlsafe(16))


def new_person_id() -> str:
    return "p_" + secrets.token_hex(16)


def normalise_email(email: str) -> str:
    """``email`` trimmed and checked: one ``@``, no spaces or control characters."""
    email = email.strip()
    local, at, domain = email.partition("@")
    if (
        not at
        or not local
        or "." not in domain
        or "@" in domain
        or len(email) > MAX_EMAIL
        or any(char.isspace() for char in email)
        or refused_char(email) is not None
    ):
        raise InputError(Reason.MALFORMED_REQUEST, "not an e-mail address")
    return email


def check_password_rules(password: str) -> None:
    """``bad_field`` for a password too short or too long: the one rule (NIST 800-63B: length, no mix)."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InputError(Reason.BAD_FIELD, f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters")


def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (salted; the string carries its parameters)."""
    return _HASHER.hash(password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def add_person(
    ctx: ServerContext, *, email: str, display_name: str, password: str, now_ms: int | None = None
) -> str:
    """A new console account without a second factor yet; its ``"p_<32 hex>"`` ID.

    ``409 person_exists`` if the e-mail address has an account (case does not matter).
    The person cannot log in until a TOTP secret is confirmed (:func:`set_totp_secret`).
    """
    email = normalise_email(email)
    display_name = display_name.strip()
    if not display_name or len(display_name) > 200 or refused_char(display_name) is not None:
        raise InputError(Reason.MALFORMED_REQUEST, "a display name has 1 to 200 printable characters")
    check_password_rules(password)
    password_hash = hash_password(password)
    now = ctx.now_ms() if now_ms is None else now_ms
    person_id = new_person_id()
    with ctx.storage.write() as tx:
        if tx.person_by_email(email) is not None:
            raise ServiceError(Reason.PERSON_EXISTS, "an account with this e-mail address exists")
        tx.insert_person(
            PersonRow(
                person_id, email, display_name, password_hash, None, None, None, 0, None, now, now, None
            )
        )
    return person_id


def get_person(tx: ReadTx, person_id: str) -> PersonRow:
    person = tx.person(person_id)
    if person is None:
        raise ServiceError(Reason.UNKNOWN_PERSON, "no such person")
    return person


def set_totp_secret(ctx: ServerContext, person_id: str, secret: str) -> None:
    """Make ``secret`` (base32) ``person_id``'s confirmed TOTP secret: for the CLI and tests.

    The console's own enrolment confirms a code first (:func:`confirm_totp`).
    """
    try:
        pyotp.TOTP(secret).at(0)
    except Exception as exc:  # binascii.Error and friends: pyotp does not narrow them
        raise InputError(Reason.BAD_FIELD, "not a base32 TOTP secret") from exc
    with ctx.storage.write() as tx:
        get_person(tx, person_id)
        tx.set_totp(person_id, secret, None)


def new_totp_secret() -> str:
    """A fresh TOTP secret: 160 random bits in base32 (RFC 4226's recommended length)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, email: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads (as a QR code)."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def _lock_check(person: PersonRow, now: int) -> None:
    if person.locked_until_ms is not None and now < person.locked_until_ms:
        retry_after_s = max(1, -(-(person.locked_until_ms - now) // 1000))
        raise ServiceError(
            Reason.ACCOUNT_LOCKED,
            f"too many failed logins: the account is locked for {retry_after_s} s",
            extra={"retry_after_s": retry_after_s},
            headers={"Retry-After": str(retry_after_s)},
        )


def _failed(tx: Tx, person: PersonRow, now: int) -> None:
    """Count one failed password or code against ``person``; lock the account at the threshold."""
    settings = account_settings(tx)
    failures = person.failed_logins + 1
    # A wrong password during a lock (it is checked then: see check_password) keeps the lock running.
    running = person.locked_until_ms is not None and now < person.locked_until_ms
    locked = person.locked_until_ms if running else None
    if failures >= settings.lockout_failures:
        failures, locked = 0, now + settings.lockout_ms
    tx.set_login_failures(person.person_id, failures, locked)


def check_password(ctx: ServerContext, email: str, password: str, *, attempt: Attempt) -> str:
    """The ``person_id`` whose e-mail address and password these are; the first step of a login.

    ``401 login_failed`` for an unknown address or a wrong password (one answer
    for both, locked or not); ``403 account_disabled`` for the right password of a disabled
    account; ``423 account_locked`` for the right password while the account is locked; ``429
    rate_limited`` while this client or this account has failed too often
    (:mod:`server.ratelimit`).  The second step is :func:`check_totp`.
    """
    attempt.begin()
    now = ctx.now_ms()
    with ctx.storage.read() as rtx:
        person = rtx.person_by_email(email.strip()) if len(email) <= MAX_EMAIL else None
    if person is None or len(password) > MAX_PASSWORD:
        _verify(_dummy_hash(), password[:MAX_PASSWORD])
        raise ServiceError(Reason.LOGIN_FAILED, "wrong e-mail address or password")
    # The lock is told only to whom gives the right password: for a wrong one a locked
    # account answers as an unknown address does, or the lock would tell which addresses exist.
    right = _verify(person.password_hash, password)
    with ctx.storage.write() as tx:
        current = get_person(tx, person.person_id)
        if not right:
            _failed(tx, current, now)
            raise_later = True
        else:
            _lock_check(current, now)
            raise_later = False
            if _HASHER.check_needs_rehash(current.password_hash):
                tx.set_password_hash(current.person_id, hash_password(password), current.password_ms)
    if raise_later:
        raise ServiceError(Reason.LOGIN_FAILED, "wrong e-mail address or password")
    if current.disabled_ms is not None:  # told only to whom knows the password: no guessing aid
        raise ServiceError(Reason.ACCOUNT_DISABLED, "this account is disabled")
    attempt.succeeded()
    return person.person_id


def _matching_step(secret: str, code: str, now_ms: int) -> int | None:
    """The time step (of now, the one before or after) whose code ``code`` is, or ``None``."""
    code = code.strip().replace(" ", "")
    if len(code) != TOTP_DIGITS or not code.isascii() or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_STEP_S)
    step = now_ms // 1000 // TOTP_STEP_S
    found = None
    for candidate in (step - 1, step, step + 1):  # check all three: no early exit, no timing hint
        if hmac.compare_digest(totp.at(candidate * TOTP_STEP_S), code):
            found = candidate
    return found


def check_totp(ctx: ServerContext, person_id: str, code: str, *, attempt: Attempt | None = None) -> None:
    """Accept ``code`` as ``person_id``'s second factor, or ``401 totp_invalid``.

    A wrong code counts as a failed login (the lockout) and, given ``attempt``, as a
    guess; a code of a step already used is refused like a wrong one.  The first
    step of the login is :func:`check_password`; a person without a confirmed
    secret cannot pass this one.
    """
    if attempt is not None:
        attempt.begin()
    now = ctx.now_ms()
    with ctx.storage.write() as tx:
        person = get_person(tx, person_id)
        _lock_check(person, now)
        step = None if person.totp_secret is None else _matching_step(person.totp_secret, code, now)
        ok = step is not None and person.disabled_ms is None and tx.use_totp_step(person_id, step)
        if ok:
            tx.set_login_failures(person_id, 0, None)
        else:
            _failed(tx, person, now)
    if not ok:
        raise ServiceError(Reason.TOTP_INVALID, "wrong or used code")
    if attempt is not None:
        attempt.succeeded()

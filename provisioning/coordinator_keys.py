"""A coordinator's own signing key, and the decisions signed with it.

Rule changes, shop limits and review outcomes are *decisions*
(:mod:`protocol.decisions`): signed on the coordinator's laptop with an Ed25519
key that never leaves it, registered on the server as an ``o_`` coordinator key.
This module creates, registers and loads that key file and turns what a coordinator typed
(``"125:Mo-So:22:00-06:00"``, ``"2026-11-29 14:00"``) into decision data; the
CLI only parses arguments and calls these functions.

The key file is a 32-byte seed with mode 0600, written atomically and never
overwritten, exactly like an issuer key::

    key = create_coordinator_key(Path("~/kokreativ/coordinator.key").expanduser())
    wire = sign(key, "acknowledge", acknowledge_data("r_…", "confirmed_by_shop"))
    client.post_decision(wire)

Every malformed input raises :class:`ProvisioningError` with ``bad_field``
before anything is signed or sent.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

from protocol import (
    MalformedError,
    PrivateKey,
    Reason,
    b64decode,
    b64encode,
    coordinator_id,
    decision_hash,
    ids,
    localtime,
    sign_decision,
)
from protocol.clock import now_ms
from protocol.decisions import committed_decision, cosign_message
from protocol.keys import SEED_BYTES
from provisioning.client import ApiClient
from provisioning.errors import ProvisioningError, ServerRefused, ServerUnreachable

LOCAL_TZ: Final[ZoneInfo] = localtime.SITE_ZONE  # the economy's local time (docs/economy.md)
KEY_ENV: Final = "KOKREATIV_COORDINATOR_KEY"

# Weekday names a coordinator may type, German and English, short and long; 0 = Monday.
_DAY_NAMES: Final[tuple[tuple[str, ...], ...]] = (
    ("mo", "mon", "montag", "monday"),
    ("di", "tue", "dienstag", "tuesday"),
    ("mi", "wed", "mittwoch", "wednesday"),
    ("do", "thu", "donnerstag", "thursday"),
    ("fr", "fri", "freitag", "friday"),
    ("sa", "sat", "samstag", "saturday"),
    ("so", "sun", "sonntag", "sunday"),
)
DAYS: Final[Mapping[str, int]] = {name: day for day, names in enumerate(_DAY_NAMES) for name in names}
_TIME: Final = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")
_WINDOW: Final = re.compile(rf"({_TIME.pattern})-({_TIME.pattern})")
WHOLE_DAY: Final = ("00:00", "00:00")  # from == to: the whole day (docs/economy.md)


def _bad(message: str) -> ProvisioningError:
    return ProvisioningError(Reason.BAD_FIELD, message)


# -- the key file ----------------------------------------------------------------------------------


def create_coordinator_key(path: Path) -> PrivateKey:
    """Generate a coordinator key and write its seed to ``path`` (mode 0600); never overwrites.

    Raises :class:`ProvisioningError` ``key_exists`` when ``path`` exists, so a key that
    may already be registered (and may have signed decisions) is never lost.
    """
    from terminal.errors import KeyExistsError
    from terminal.keystore import create_key

    try:
        return create_key(path)
    except KeyExistsError:
        raise ProvisioningError(
            "key_exists", f"{path} exists; a coordinator key is never overwritten"
        ) from None


def load_coordinator_key(path: Path) -> PrivateKey:
    """Read the key file at ``path``; refuse one that is missing, the wrong size or readable by others."""
    try:
        with open(path, "rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            seed = handle.read(SEED_BYTES + 1)
    except OSError as exc:
        raise ProvisioningError(
            Reason.MISSING_FIELD, f"cannot read coordinator key {path}: {exc.strerror}"
        ) from exc
    if len(seed) != SEED_BYTES:
        raise _bad(f"coordinator key {path} is not a {SEED_BYTES}-byte key file")
    if stat.S_IMODE(mode) & 0o077:
        raise _bad(f"coordinator key {path} is readable by others; chmod 600 it")
    return PrivateKey(seed)


def register_coordinator_key(client: ApiClient, path: Path, name: str, *, existing: bool) -> dict[str, Any]:
    """Create the key file at ``path`` (or, with ``existing``, load it) and register its public key.

    Returns the server's answer.  A new key the server refuses is deleted again: it was
    never registered, so nothing can depend on it.  A new key whose registration got no
    answer is kept (the server may have it), and the error says to run again with
    ``existing``; registering a known key again is harmless.
    """
    key = load_coordinator_key(path) if existing else create_coordinator_key(path)
    try:
        answer = client.add_coordinator(name, key.public_key.to_b64())
    except ServerRefused:
        if not existing:
            path.unlink()
        raise
    except ServerUnreachable as exc:
        if existing:
            raise
        raise ServerUnreachable(
            exc.reason, f"{exc.message}; the new key is in {path}: run again with --existing"
        ) from exc
    if answer.get("coordinator_id") != coordinator_id(key.public_key):
        raise ServerRefused(Reason.MALFORMED_REQUEST, "the server answered another ID than the key's")
    return answer


def key_path(given: str | None, environ: Mapping[str, str] = os.environ) -> Path:
    """The key file from ``--key`` or else ``$KOKREATIV_COORDINATOR_KEY``; one of them is required."""
    value = given or environ.get(KEY_ENV)
    if not value:
        raise ProvisioningError(Reason.MISSING_FIELD, f"give --key FILE or set {KEY_ENV}")
    return Path(value).expanduser()


# -- signing ---------------------------------------------------------------------------------------


def sign(key: PrivateKey, kind: str, data: Mapping[str, Any], *, at_ms: int | None = None) -> dict[str, Any]:
    """The wire form ``{"body", "sig"}`` of a ``kind`` decision v2, signed by ``key`` at ``at_ms`` (now).

    ``data`` is as in v1: a ``manual_shift`` names its ``card``, which the signed
    decision replaces by a fresh commitment; the wire form then adds
    ``"opening"``, which the server keeps off the log (``docs/protocol.md``).
    The decision is checked by the protocol's own parser before it is signed, so
    a malformed one raises :class:`ProvisioningError` and nothing is signed.
    """
    at = now_ms() if at_ms is None else at_ms
    try:
        decision, opening = committed_decision(kind, coordinator_id(key.public_key), at, data)
        return sign_decision(decision, key, opening)
    except MalformedError as exc:
        raise ProvisioningError(exc.reason, exc.message) from exc


# -- sending, so that a lost answer never applies a decision twice ----------------------------------


def pending_dir(key_file: Path) -> Path:
    """Where decisions signed with ``key_file`` wait until the server has confirmed them."""
    return key_file.with_name(key_file.name + ".pending")


def send_decision(client: ApiClient, wire: Mapping[str, Any], *, pending: Path) -> dict[str, Any]:
    """Post a signed decision; keep its exact bytes on disk until the server has answered.

    A decision that pays (an approval, a shift added by hand) must not pay twice
    because an answer was lost: signing it again would make new bytes, which the
    server could not tell from a second decision.  So the signed decision is
    written to ``pending`` first and removed once the server answered, whether
    it applied it or refused it.  Without an answer it stays, and
    :func:`resend_pending` sends the same bytes again: the server answers a
    decision it already applied with its stored answer (``"duplicate": true``).
    """
    digest = decision_hash(b64decode(wire["body"], field="body"))
    pending.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = pending / f"{digest}.json"
    scratch = path.with_suffix(".tmp")
    with open(scratch, "w", encoding="ascii") as handle:
        json.dump(dict(wire), handle)
        handle.flush()
        os.fsync(handle.fileno())
    scratch.replace(path)
    try:
        answer = client.post_decision(dict(wire))
    except ServerUnreachable as exc:
        raise ServerUnreachable(
            exc.reason,
            f"{exc.message}; the signed decision is kept in {path}: send it again with "
            "'kokreativ provision decision resend' (it cannot apply twice)",
        ) from exc
    except ServerRefused:
        path.unlink(missing_ok=True)
        raise
    path.unlink(missing_ok=True)
    return answer


def resend_pending(client: ApiClient, pending: Path) -> list[dict[str, Any]]:
    """Send every decision still waiting in ``pending`` again, oldest first; return the answers.

    A refusal is returned as ``{"file", "refused", "message"}`` (and the file removed), so one
    stale decision does not hold back the others.
    """
    answers: list[dict[str, Any]] = []
    files = sorted(pending.glob("*.json"), key=lambda f: f.stat().st_mtime) if pending.is_dir() else []
    for path in files:
        wire = json.loads(path.read_text(encoding="ascii"))
        try:
            answers.append(send_decision(client, wire, pending=pending))
        except ServerRefused as exc:
            answers.append({"file": str(path), "refused": str(exc.reason), "message": exc.message})
    return answers


def site_rules_data(
    site: Mapping[str, Any],
    *,
    tokens_per_hour: int | None = None,
    max_shift_hours: int | None = None,
    daily_cap: int | None = None,
    bonuses: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """``site_rules`` data: the current rules of ``site`` (as the server lists it), the given ones changed."""
    return {
        "site": site["site_id"],
        "tokens_per_hour": site["tokens_per_hour"] if tokens_per_hour is None else tokens_per_hour,
        "max_shift_hours": site["max_shift_hours"] if max_shift_hours is None else max_shift_hours,
        "daily_cap": site.get("daily_cap", 0) if daily_cap is None else daily_cap,
        "bonuses": list(site.get("bonuses", [])) if bonuses is None else bonuses,
    }


SHOP_LIMITS: Final = ("max_amount", "offline_allowance", "offline_daily_cap", "void_window_s")


def shop_limits_data(site: Mapping[str, Any], **changes: int | None) -> dict[str, Any]:
    """``shop_limits`` data: the shop's current limits (``site["shop"]``) with the given ones changed."""
    current = site.get("shop")
    if not isinstance(current, Mapping):
        raise ProvisioningError(Reason.NOT_A_SHOP, f"{site.get('site_id')} is not a shop")
    unknown = set(changes) - set(SHOP_LIMITS)
    if unknown:
        raise ValueError(f"not a shop limit: {sorted(unknown)}")
    data: dict[str, Any] = {"site": site["site_id"]}
    for name in SHOP_LIMITS:
        value = changes.get(name)
        data[name] = current[name] if value is None else value
    return data


KIOSK_LIMITS: Final = ("max_day_hours", "backdate_days")


def kiosk_limits_data(site: Mapping[str, Any], **changes: int | None) -> dict[str, Any]:
    """``kiosk_limits`` data: the check-in site's current kiosk limits with the given ones changed.

    A shop has no kiosk limits (its own are ``shop_limits``): refused with ``not_a_shop``,
    the code the server gives a ``kiosk_limits`` decision for a shop.
    """
    if site.get("kind") != "checkin" or any(name not in site for name in KIOSK_LIMITS):
        raise ProvisioningError(
            Reason.NOT_A_SHOP,
            f"{site.get('site_id')} is a shop, not a check-in site; change its limits with `shop limits`",
        )
    unknown = set(changes) - set(KIOSK_LIMITS)
    if unknown:
        raise ValueError(f"not a kiosk limit: {sorted(unknown)}")
    data: dict[str, Any] = {"site": site["site_id"]}
    for name in KIOSK_LIMITS:
        value = changes.get(name)
        data[name] = site[name] if value is None else value
    return data


def review_data(
    shift: tuple[str, int], action: str, reason: str, *, start_ms: int = 0, end_ms: int = 0
) -> dict[str, Any]:
    """``review`` data for the shift whose first tap is ``shift`` (kiosk, seq); 0 keeps a recorded time."""
    kiosk, seq = shift
    return {
        "shift": {"kiosk": kiosk, "seq": seq},
        "action": action,
        "start_ms": start_ms,
        "end_ms": end_ms,
        "reason": reason,
    }


def redemption_review_data(redemption_id: str, action: str, reason: str) -> dict[str, Any]:
    """``redemption_review`` data: a held offline redemption approved (debited, owed) or rejected."""
    return {"redemption": redemption_id, "action": action, "reason": reason}


def acknowledge_data(redemption_id: str, reason: str) -> dict[str, Any]:
    """``acknowledge`` data: the overdraft of ``redemption_id`` was seen and is accepted."""
    return {"redemption": redemption_id, "reason": reason}


def manual_shift_data(card_id: str, site_id: str, start_ms: int, end_ms: int, reason: str) -> dict[str, Any]:
    """``manual_shift`` data: a shift added by hand for ``card_id`` at ``site_id``."""
    if end_ms <= start_ms:
        raise _bad("a shift ends after it starts")
    return {"card": card_id, "site": site_id, "start_ms": start_ms, "end_ms": end_ms, "reason": reason}


# -- what coordinators type ------------------------------------------------------------------------


def parse_shift_ref(text: str) -> tuple[str, int]:
    """``"k_…:SEQ"`` (as ``review list`` prints it) as ``(kiosk, seq)``."""
    kiosk, sep, seq = text.partition(":")
    if not sep or not ids.is_id(kiosk, ids.KIOSK) or not seq.isdigit() or int(seq) < 1:
        raise _bad(f"{text!r} is not a shift reference like k_…:12")
    return kiosk, int(seq)


def parse_review_ref(text: str) -> tuple[str, int] | str:
    """An item of the review list as ``review list`` prints it: a shift ``(kiosk, seq)`` or a redemption ID.

    ``"k_…:12"`` is the shift whose first tap that is; ``"r_…"`` a held redemption.
    """
    if ids.is_id(text.strip(), ids.REDEMPTION):
        return text.strip()
    if text.startswith(f"{ids.KIOSK}_") and ":" in text:
        return parse_shift_ref(text)
    raise _bad(f"{text!r} is neither a shift like k_…:12 nor a redemption like r_… (see `review list`)")


def parse_days(text: str) -> list[int]:
    """Weekdays like ``"Mo-Fr"``, ``"Sa,So"`` or ``"Mon-Wed,Fri"`` as sorted numbers, 0 = Monday.

    German (Mo Di Mi Do Fr Sa So) and English (Mon Tue … Sun) names, short or long,
    in any case.  A range runs forward and wraps past Sunday: ``Fr-Mo`` is Friday to Monday.
    """
    days: set[int] = set()
    for part in text.split(","):
        first, sep, last = part.strip().partition("-")
        try:
            start = DAYS[first.strip().lower()]
            end = DAYS[last.strip().lower()] if sep else start
        except KeyError:
            raise _bad(f"{part.strip()!r} is not a weekday or range like Mo-Fr or Mon-Fri") from None
        days.update((start + offset) % 7 for offset in range((end - start) % 7 + 1))
    return sorted(days)


def _window(text: str | None) -> tuple[str, str]:
    if text is None:
        return WHOLE_DAY
    match = _WINDOW.fullmatch(text.strip())
    if match is None:
        raise _bad(f"{text!r} is not a time window like 22:00-06:00")
    return match.group(1), match.group(3)


def _percent(text: str) -> int:
    if not text.strip().isdigit() or not 100 <= int(text) <= 1000:
        raise _bad(f"{text!r} is not a percent from 100 to 1000")
    return int(text)


def parse_bonus(text: str) -> dict[str, Any]:
    """``"PERCENT:DAYS[:HH:MM-HH:MM]"`` as a bonus, e.g. ``"125:Mo-So:22:00-06:00"`` (nights).

    Without a window the bonus holds the whole day (``"150:Sa,So"``).  A window whose end is
    at or before its start runs past midnight.
    """
    percent, _, rest = text.partition(":")
    days, _, window = rest.partition(":")
    if not days:
        raise _bad(f"{text!r} is not a bonus like 125:Mo-So:22:00-06:00")
    start, end = _window(window or None)
    return {"percent": _percent(percent), "days": parse_days(days), "dates": [], "from": start, "to": end}


def parse_holiday(text: str) -> dict[str, Any]:
    """``"PERCENT:YYYY-MM-DD,…[:HH:MM-HH:MM]"`` as a bonus on those dates, all day unless a window is given.

    ``"200:2026-12-25,2026-12-26"`` doubles both Christmas days.
    """
    percent, _, rest = text.partition(":")
    dates_text, _, window = rest.partition(":")
    dates: set[str] = set()
    for part in dates_text.split(","):
        try:
            dates.add(dt.date.fromisoformat(part.strip()).isoformat())
        except ValueError:
            raise _bad(f"{part.strip()!r} is not a date like 2026-12-25") from None
    start, end = _window(window or None)
    return {"percent": _percent(percent), "days": [], "dates": sorted(dates), "from": start, "to": end}


def bonus_change(
    bonuses: Iterable[str], holidays: Iterable[str], *, clear: bool = False
) -> list[dict[str, Any]] | None:
    """The bonuses a rules change sets: ``None`` keeps the site's, ``[]`` (``clear``) removes them all.

    Weekday bonuses (:func:`parse_bonus`) and holidays (:func:`parse_holiday`) given
    together replace all of the site's bonuses; ``clear`` with any of them is refused.
    """
    bonuses, holidays = list(bonuses), list(holidays)
    if clear:
        if bonuses or holidays:
            raise _bad("--no-bonuses clears the bonuses; give it alone")
        return []
    if bonuses or holidays:
        return [parse_bonus(b) for b in bonuses] + [parse_holiday(h) for h in holidays]
    return None


def format_days(days: Iterable[int]) -> str:
    """Weekday numbers in German short names with ranges: ``[0, 1, 2, 4]`` is ``"Mo-Mi,Fr"``."""
    german = [names[0].capitalize() for names in _DAY_NAMES]
    ordered = sorted(set(days))
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(german[ordered[i]] if i == j else f"{german[ordered[i]]}-{german[ordered[j]]}")
        i = j + 1
    return ",".join(parts)


def format_bonus(bonus: Mapping[str, Any]) -> str:
    """A bonus as ``parse_bonus`` or ``parse_holiday`` reads it back (one of days or dates)."""
    window = "" if (bonus["from"], bonus["to"]) == WHOLE_DAY else f":{bonus['from']}-{bonus['to']}"
    if bonus["days"]:
        return f"{bonus['percent']}:{format_days(bonus['days'])}{window}"
    return f"{bonus['percent']}:{','.join(bonus['dates'])}{window}"


def parse_local_time(text: str) -> int:
    """``"2026-11-29 14:00"`` in local time (Europe/Berlin) as ms since the epoch.

    A time the clocks skip in spring (02:30 on the last Sunday of March) is refused;
    one they pass twice in autumn means the first (summer time).
    """
    try:
        naive = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise _bad(f"{text!r} is not a local time like 2026-11-29 14:00") from None
    if naive.tzinfo is not None:
        raise _bad(f"{text!r}: give the local time without a zone")
    local = naive.replace(tzinfo=LOCAL_TZ)
    if local.astimezone(dt.UTC).astimezone(LOCAL_TZ).replace(tzinfo=None) != naive:
        raise _bad(f"{text!r} does not exist in local time (the clocks skip it)")
    return int(local.timestamp() * 1000)


def local_day_start_ms(day: dt.date) -> int:
    """The first millisecond of ``day`` in local time (Europe/Berlin)."""
    return int(dt.datetime.combine(day, dt.time(), tzinfo=LOCAL_TZ).timestamp() * 1000)


def parse_day(text: str) -> dt.date:
    """``"YYYY-MM-DD"`` as a date."""
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise _bad(f"{text!r} is not a date like 2026-11-29") from None


def local_days_ms(first: dt.date | None, last: dt.date | None) -> tuple[int | None, int | None]:
    """``[from_ms, to_ms)`` covering local days ``first`` to ``last`` inclusive; ``None``: open."""
    if first is not None and last is not None and last < first:
        raise _bad(f"the period ends ({last}) before it starts ({first})")
    start = None if first is None else local_day_start_ms(first)
    end = None if last is None else local_day_start_ms(last + dt.timedelta(days=1))
    return start, end


def format_local(ms: int | None) -> str:
    """``ms`` as local ``YYYY-MM-DD HH:MM`` (Europe/Berlin); ``-`` for none.

    The form :func:`parse_local_time` reads, so a time copied from a table can be typed back
    (``--start``/``--end``); a table that shows it names the zone in its heading or a note.
    """
    if ms is None:
        return "-"
    return f"{localtime.local(ms, LOCAL_TZ):%Y-%m-%d %H:%M}"


def cosign(client: ApiClient, key: PrivateKey, decision: str) -> dict[str, Any]:
    """Cosign a decision that waits for four eyes with ``key``: sign its cosign message, send it.

    The body signed is the one the server lists (``pending_decisions``), checked
    to hash to ``decision``, so the key signs exactly what it was asked about.
    """
    for waiting in client.pending_decisions():
        if waiting.get("decision") == decision:
            body = b64decode(waiting["body"], field="body")
            if decision_hash(body) != decision:
                raise ProvisioningError(
                    Reason.BAD_FIELD, "the server listed a body that does not match its hash"
                )
            sig = b64encode(key.sign(cosign_message(body)))
            return client.cosign_decision(decision, coordinator_id(key.public_key), sig)
    raise ProvisioningError(Reason.NOT_PENDING, f"no decision waits for a cosignature under {decision}")

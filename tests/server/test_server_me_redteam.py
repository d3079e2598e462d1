"""The red team's findings against the volunteer's page and its login (issue 19, item 5), kept by tests.

Each test here failed before its fix.
"""

from __future__ import annotations

from server_helpers import Api

from protocol import Reason


def test_another_site_cannot_log_a_browser_into_its_own_volunteer_session(api: Api) -> None:
    """Login CSRF: a page elsewhere posted the attacker's own secret to ``/v1/me/session``.

    A cross-site ``<form enctype="text/plain">`` sends ``name=value`` unread by
    CORS; with ``name='{"secret":"'`` and ``value='","secret":"<theirs>"}'`` the
    body is JSON whose last ``secret`` wins, and the answer to that top-level
    navigation set ``kk_session``: the victim's ``/ich`` then showed (and kept
    offline, and took "card lost" for) the attacker's account.  Only a JSON
    request opens a session now; a form cannot send ``application/json``.
    """
    secret = api.create_card("Mallory")["access_secret"]
    body = '{"secret":"=","secret":"' + secret + '"}'
    for kind in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None):
        headers = {} if kind is None else {"Content-Type": kind}
        answer = api.http.post("/v1/me/session", content=body, headers=headers)
        assert answer.status_code == 400, (kind, answer.status_code)
        assert answer.json()["error"]["code"] == Reason.MALFORMED_REQUEST.value
        assert "set-cookie" not in answer.headers
    own = api.http.post("/v1/me/session", content=body, headers={"Content-Type": "application/json"})
    assert own.status_code == 204 and "kk_session=" in own.headers["set-cookie"]

"""``GET /v1/me/export``: a volunteer downloads everything stored about them (Art. 15 and 20 DSGVO).

The same document a coordinator of their home site gets (``/v1/admin/volunteers/{id}/export``),
as JSON or as a PDF, with their own session only, and never cached.
"""

from __future__ import annotations

import io

from pypdf import PdfReader
from server_helpers import Api, assert_error
from test_server_me_openings import _session
from test_server_personal_access import cookie

from protocol import Reason


def test_a_volunteer_exports_their_own_data_as_json_and_pdf(api: Api) -> None:
    ada = api.create_card("Ada Lövelace", ehrenamtskarte="EK-4711")
    bob = api.create_card("Bob")
    session = _session(api, ada)
    mine = api.http.get("/v1/me/export", headers=cookie(session))
    assert mine.status_code == 200, mine.text
    assert mine.headers["cache-control"] == "no-store"
    document = mine.json()
    assert document["volunteer_id"] == ada["volunteer_id"]
    assert document["personal_data"] == {"name": "Ada Lövelace", "ehrenamtskarte": "EK-4711"}
    assert [card["card_id"] for card in document["cards"]] == [ada["card_id"]]
    assert bob["card_id"] not in mine.text and "Bob" not in mine.text
    admin = api.http.get(
        f"/v1/admin/volunteers/{ada['volunteer_id']}/export",
        headers={"Authorization": f"Bearer {api.admin_token}"},
    )
    assert {**admin.json(), "generated_ms": 0} == {**document, "generated_ms": 0}  # the coordinator's copy
    pdf = api.http.get("/v1/me/export", params={"format": "pdf"}, headers=cookie(session))
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["cache-control"] == "no-store"
    pages = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "Lövelace" in pages and ada["card_id"] in pages.replace("\n", "")


def test_my_export_needs_my_session(api: Api) -> None:
    api.create_card("Ada Lovelace")
    assert_error(api.http.get("/v1/me/export"), 401, Reason.SESSION_REQUIRED)
    admin = api.http.get("/v1/me/export", headers={"Authorization": f"Bearer {api.admin_token}"})
    assert_error(admin, 401, Reason.SESSION_REQUIRED)

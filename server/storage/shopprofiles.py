"""Shops' public profiles (m023): where each shop is and what it offers, for the directory ``/laeden``.

Only shops (sites of kind ``shop``) are read back: a profile row whose site
became something else is never shown.  The service (:mod:`server.shopprofiles`)
validates every field before it gets here.
"""

from __future__ import annotations

from typing import NamedTuple

from server.storage.base import Queries


class ShopProfileRow(NamedTuple):
    """A shop's profile as stored, with the shop's name from ``sites``."""

    shop_id: str
    name: str
    street: str
    postcode: str
    city: str
    district: str
    offer: str
    hours: str
    website: str
    updated_ms: int


_SELECT = """SELECT p.shop_id, s.name, p.street, p.postcode, p.city, p.district, p.offer, p.hours,
                    p.website, p.updated_ms
             FROM shop_profiles p JOIN sites s ON s.site_id = p.shop_id
             WHERE s.kind = 'shop'"""


class ShopProfilesRead(Queries):
    """Reading shops' profiles."""

    def shop_profile(self, shop_id: str) -> ShopProfileRow | None:
        """The profile of ``shop_id``, or ``None`` (no profile yet, or not a shop)."""
        row = self._conn.execute(f"{_SELECT} AND p.shop_id = ?", (shop_id,)).fetchone()
        return None if row is None else ShopProfileRow(*row)

    def shop_profiles(self) -> list[ShopProfileRow]:
        """Every shop's profile, by district and then name."""
        rows = self._conn.execute(f"{_SELECT} ORDER BY p.district, s.name, p.shop_id").fetchall()
        return [ShopProfileRow(*row) for row in rows]


class ShopProfilesWrite(ShopProfilesRead):
    """Writing shops' profiles."""

    def put_shop_profile(self, profile: ShopProfileRow, updated_by: str) -> None:
        """Store ``profile`` (its ``name`` is the site's, not kept here), replacing the shop's earlier one."""
        self._conn.execute(
            """INSERT INTO shop_profiles (shop_id, street, postcode, city, district, offer, hours, website,
                                          updated_ms, updated_by)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (shop_id) DO UPDATE SET
                 street = excluded.street, postcode = excluded.postcode, city = excluded.city,
                 district = excluded.district, offer = excluded.offer, hours = excluded.hours,
                 website = excluded.website, updated_ms = excluded.updated_ms,
                 updated_by = excluded.updated_by""",
            (
                profile.shop_id,
                profile.street,
                profile.postcode,
                profile.city,
                profile.district,
                profile.offer,
                profile.hours,
                profile.website,
                profile.updated_ms,
                updated_by,
            ),
        )

    def delete_shop_profile(self, shop_id: str) -> bool:
        """Remove ``shop_id``'s profile (it leaves the directory); whether there was one."""
        return self._conn.execute("DELETE FROM shop_profiles WHERE shop_id = ?", (shop_id,)).rowcount > 0

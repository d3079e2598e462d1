"""Which sites a console caller may see: the one type every console service takes.

A service of the console (:mod:`server.overview`, :mod:`server.reports`,
:mod:`server.fleet`) takes ``sites``: the site and shop IDs the caller holds the
route's permission for (``Principal.sites_for``), or ``None`` for the whole
economy.  It returns only what belongs to those sites, and answers an object of
another site as if it did not exist (``404``), so a coordinator of site A learns
nothing of site B, not even that an ID is taken.
"""

from __future__ import annotations

from typing import TypeAlias

Sites: TypeAlias = frozenset[str] | None


def visible(sites: Sites, site_id: str | None) -> bool:
    """Whether ``site_id`` is one of ``sites``; ``None`` (no site) is visible economy-wide only."""
    if sites is None:
        return True
    return site_id is not None and site_id in sites

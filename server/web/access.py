"""Who may open a page: :func:`console_page`, the page form of :func:`server.http.access.require`.

A console page declares its permission and scope like an API route, so the
route table lists it (``docs/architecture.md``).  The difference is what a
refused browser sees: ``401`` sends it to the login page (the error handler
turns it into a redirect, :mod:`server.web.errors`), and ``403`` and ``404``
are pages that explain, in the person's language.  The admitted principal is
kept on ``request.state.principal`` so the layout shows the person's
navigation and name.
"""

from fastapi import Request

from server.http.access import Permission, Principal, Require, Scope, economy


class ConsolePage(Require):
    """:class:`~server.http.access.Require` that also keeps the principal for the page's layout."""

    async def __call__(self, request: Request) -> Principal:
        principal = await Require.__call__(self, request)
        request.state.principal = principal
        return principal


def console_page(permission: Permission, *, scope: Scope = economy, note: str = "") -> ConsolePage:
    """``Depends(console_page(Permission.REVIEW, scope=anywhere))``: a page for those who hold it."""
    return ConsolePage(permission, scope, note)

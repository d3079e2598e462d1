"""Who may open a page: :func:`console_page`, the page form of :func:`server.http.access.require`.

A console page declares its permission and scope like an API route, so the
route table lists it (``docs/architecture.md``).  The difference is what a
refused browser sees: ``401`` sends it to the login page (the error handler
turns it into a redirect, :mod:`server.web.errors`), and ``403`` and ``404``
are pages that explain, in the person's language.  The admitted principal is
kept on ``request.state.principal`` so the layout shows the person's
navigation and name.

A shop owner's pages (``/console/laden/{shop_id}``) admit either of two
permissions for the shop in the path: :func:`shop_page`.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from fastapi import Request

from protocol import Reason
from server.context import ServerContext
from server.errors import ServiceError
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


def _shop_of_path(ctx: ServerContext, path_params: Mapping[str, str]) -> str:
    return path_params["shop_id"]


# The shop in the path; one outside the person's shops is "no such shop", as server.shoppage says for
# an unknown ID or a check-in site.
shop_of_path = Scope("shop in the path", _shop_of_path, (Reason.UNKNOWN_SITE, "no such shop"))


@dataclass(frozen=True)
class EitherPage(ConsolePage):
    """A page for those holding ``permission`` or ``also`` for the scope's site (a shop owner's pages).

    Refusals as :class:`~server.http.access.Require`'s: a person holding either
    permission somewhere, but not for this shop, gets the scope's ``404``; one
    holding neither anywhere gets ``403``.
    """

    also: Permission = Permission.RUN_SHOP

    @property
    def label(self) -> str:
        return f"permission `{self.permission.value}` or `{self.also.value}`"

    def allows(self, ctx: ServerContext, principal: Principal, path_params: Mapping[str, str]) -> bool:
        return Require.allows(self, ctx, principal, path_params) or Require(self.also, self.scope).allows(
            ctx, principal, path_params
        )

    def admit(self, ctx: ServerContext, principal: Principal, path_params: Mapping[str, str]) -> Principal:
        if self.allows(ctx, principal, path_params):
            return principal
        hidden = self.scope.hidden
        holds = principal.sites_for(self.permission) or principal.sites_for(self.also)
        if principal.person_id is not None and hidden is not None and holds:
            raise ServiceError(*hidden)
        raise ServiceError(
            Reason.FORBIDDEN,
            f"{principal.name} may not {self.permission.value} or {self.also.value} here",
            status=403,
        )


def shop_page(*, scope: Scope = shop_of_path, note: str = "") -> EitherPage:
    """``Depends(shop_page())``: ``settle_shops`` or ``run_shop`` for the shop in the path."""
    return EitherPage(Permission.SETTLE_SHOPS, scope, note, Permission.RUN_SHOP)

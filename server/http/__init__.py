"""The HTTP layer: read the request, call a service, translate :class:`~server.errors.ServiceError`.

It decides nothing.  One router per audience, each a module:

* :mod:`~server.http.health`: is the server up (public);
* :mod:`~server.http.kiosks`: enrolment, signed batches and heartbeats, trust lists;
* :mod:`~server.http.cards`: a card's balance (shop tills), shifts and statement;
* :mod:`~server.http.log`: the public transparency log;
* :mod:`~server.http.admin`: the coordinators' admin API;
* :mod:`~server.http.docs`: the API's description, ``/openapi.json``, and Swagger UI at ``/docs`` (public).

Who may call each route is declared on the route or its router, as data
(:mod:`~server.http.access`); :mod:`~server.http.table` renders it as the route
table in ``docs/architecture.md``.  :mod:`~server.http.common` holds what the
routers share, :mod:`~server.http.errors` the documented error shape,
:mod:`~server.http.openapi` what each route tells ``/openapi.json``, and
:func:`server.app.create_app` mounts it all.
"""

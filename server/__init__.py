"""The ledger server: admits kiosks' signed events, pays shifts in tokens, and proves what it holds.

Layout, from the outside in:

* :mod:`server.cli` and :mod:`server.runner` start uvicorn (foreground, or a
  background thread for tests, the demo and the benchmark).
* :mod:`server.http` is the thin HTTP layer, one router per audience, each
  route declaring who may call it; it reads bodies, calls a service and maps
  :class:`server.errors.ServiceError` to the documented error body.
  :mod:`server.app` mounts the routers (``create_app``).
* Services hold the rules, with no HTTP: :mod:`server.enrolment`,
  :mod:`server.ingest`, :mod:`server.shifts`, :mod:`server.admin`,
  :mod:`server.cards` (issuer keys, cards, blocks), :mod:`server.trust` (the
  kiosks' signed trust list), :mod:`server.reads` and :mod:`server.verify`
  (also usable by auditors).
* :mod:`server.tlog` is the transparency log: every service that records a
  fact appends its entry and signs a checkpoint in the same transaction;
  :mod:`server.tlogtree` is its pure append arithmetic and
  :mod:`server.logviews` serves checkpoints, tiles, proofs and balances.
* :mod:`server.storage` holds every SQL statement; :mod:`server.models` the
  records it returns; :mod:`server.datadir` creates and opens the keys and ledger.

State is passed in as a :class:`server.context.ServerContext`; there are no
module-level singletons.
"""

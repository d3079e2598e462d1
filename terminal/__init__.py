"""The kiosk: records taps offline as signed events in a durable outbox and syncs them.

Modules: :mod:`terminal.config` (kiosk.toml), :mod:`terminal.keystore` (the
kiosk key), :mod:`terminal.clock` (time with evidence), :mod:`terminal.outbox`
(SQLite store), :mod:`terminal.tap` (the rules for a tap), :mod:`terminal.sync`
(talking to the ledger), :mod:`terminal.witness` (checking the ledger's
transparency log), :mod:`terminal.service` (wiring) and
:mod:`terminal.cli` (``kokreativ terminal``).  Hardware comes in through the
interfaces in :mod:`hardware`.
"""

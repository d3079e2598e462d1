"""The software version that kiosks and the server report about themselves.

A leaf every layer may import: the server's health answer and the OpenAPI
document, a kiosk's heartbeat (``Heartbeat.version``) and ``kokreativ
--version`` all say this one string.  Keep it in step with ``[project]
version`` in ``pyproject.toml``.
"""

from __future__ import annotations

from typing import Final

SOFTWARE_VERSION: Final = "0.1.0"

"""The console's routers, one module per area; :mod:`server.app` mounts each."""

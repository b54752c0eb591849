"""Makes the server fixtures (tests/servers/plugin.py) available to the tests in this folder.

A non-root conftest may not set ``pytest_plugins``, so the plugin is registered here unless the
root conftest already did (``pytest_plugins = ["tests.servers.plugin"]``, which also gives the
fixtures to every other test folder). Either way it is registered once, so each session-scoped
server starts once.
"""

import pytest

PLUGIN = "tests.servers.plugin"


def pytest_configure(config: pytest.Config) -> None:
    # Called when this conftest is loaded (pytest_configure is a historic hook).
    if not config.pluginmanager.has_plugin(PLUGIN):
        config.pluginmanager.import_plugin(PLUGIN)

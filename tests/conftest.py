"""Test session settings."""

import atexit
import os
import shutil
import tempfile

# The CLI keeps compiled programs in a persistent cache (`jaxpg.cli.programs`): the tests use
# their own, empty at the start of every session, not the user's.
if "JAXPG_COMPILE_CACHE" not in os.environ:
    _cache = tempfile.mkdtemp(prefix="jaxpg-test-compile-cache-")
    os.environ["JAXPG_COMPILE_CACHE"] = _cache
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)

"""A Lambda function's init phase runs without Python's cyclic garbage collector (decision 0029).

Importing a function's entry builds what the process keeps until it ends: modules, classes, botocore's
service models, PynamoDB's models. None of it is garbage, yet the collector walks it again and again while
the imports allocate: each full collection scans every object made so far, and once botocore is loaded that
is 60,000 and more. Measured in a fresh interpreter after `import boto3` and one client, importing
typing_extensions (Powertools' Logger needs it) took 34 ms of CPU with the collector on and 2 ms with it
off; over an event-driven function's whole cold start, the collector was 10-20 % of the CPU time.

So, on Lambda only (``AWS_LAMBDA_FUNCTION_NAME`` is set by the runtime; tests, the local stack and scripts
never pay or see any of this):

- `begin()` runs when ``gridshare`` is first imported, the entry's first import: it switches the
  collector off (reference counting still frees everything that is not in a cycle), and sets
  ``PYDANTIC_DISABLE_PLUGINS=__all__`` unless the function sets it (no pydantic plugin is used; looking for
  them reads every installed distribution's metadata the first time a validator is built);
- `end()` runs when the first invocation starts (`gridshare.kernel.observability.LambdaEntry`, which
  every entry goes through): it moves every object alive then into the permanent generation
  (`gc.freeze`) and switches the collector back on, so it never scans the init phase's objects again, in
  this invocation or any later one. What the invocations allocate is collected as usual.

This is the sequence the `gc` documentation gives for a process that forks after loading (disable early,
freeze, enable). The cost: a reference cycle that became garbage during the imports is never freed (the
imports make few; they are counted in kilobytes, once per container).
"""

from __future__ import annotations

import gc
import os

__all__ = ["begin", "end", "in_progress"]

LAMBDA_FUNCTION_ENV = "AWS_LAMBDA_FUNCTION_NAME"
# pydantic scans every installed distribution's entry points for plugins (importlib.metadata, several ms) the
# first time it builds a validator; our functions use no pydantic plugin, so on Lambda none is looked for.
PYDANTIC_PLUGINS_ENV = "PYDANTIC_DISABLE_PLUGINS"

_collector_off = False


def begin() -> None:
    """Switch the cyclic collector off for the init phase, on Lambda only (and only if it was on); there,
    pydantic also skips its plugin discovery, unless the function's environment says otherwise."""
    global _collector_off
    if not os.environ.get(LAMBDA_FUNCTION_ENV):
        return
    os.environ.setdefault(PYDANTIC_PLUGINS_ENV, "__all__")
    if gc.isenabled() and not _collector_off:
        gc.disable()
        _collector_off = True


def end() -> None:
    """Freeze what the init phase built and switch the collector back on (once; nothing if begin did not)."""
    global _collector_off
    if _collector_off:
        _collector_off = False
        gc.freeze()
        gc.enable()


def in_progress() -> bool:
    """True between `begin` switching the collector off and `end`."""
    return _collector_off

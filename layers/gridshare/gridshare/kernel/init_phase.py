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
- `first_invocation()` wraps the first invocation (`gridshare.kernel.observability.LambdaEntry`, which
  every entry goes through): it moves every object alive then into the permanent generation
  (`gc.freeze`), so the collector never scans them again, and switches the collector back on for young
  objects only; when the invocation has answered, it freezes what that invocation kept too and restores
  the collector's thresholds. What later invocations allocate is collected as usual.

The first invocation is part of the warm-up (decision 0035): it builds what the entry's import left for
first use and the process keeps as long (botocore clients and their service models, PynamoDB's table
connections, pydantic validators, a service's use-case groups). After the freeze the oldest generation is
nearly empty, so with the usual thresholds a full collection ran every 7,000 allocations and rescanned that
new state while it was being built: a settlement task creating its S3 client paid for its model several
times over. During the first invocation the youngest generation is still collected every 700 allocations (a
reference cycle that dies young is freed, however long the invocation runs), the middle one every 700,000,
the oldest not at all.

This is the sequence the `gc` documentation gives for a process that forks after loading (disable early,
freeze, enable). The cost: a reference cycle that became garbage during the imports, or in the first
invocation after surviving its young collections, is never freed (they make few: kilobytes, once per
container).
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["begin", "first_invocation", "in_progress"]

LAMBDA_FUNCTION_ENV = "AWS_LAMBDA_FUNCTION_NAME"
# pydantic scans every installed distribution's entry points for plugins (importlib.metadata, several ms) the
# first time it builds a validator; our functions use no pydantic plugin, so on Lambda none is looked for.
PYDANTIC_PLUGINS_ENV = "PYDANTIC_DISABLE_PLUGINS"

# During the first invocation: a middle-generation collection every 1,000 young ones, no full collection
_FIRST_INVOCATION_OLDER_THRESHOLDS = (1_000, 1_000_000)

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


@contextmanager
def first_invocation() -> Iterator[None]:
    """Around the first invocation (when `in_progress()`): freeze the init phase's objects, collect only
    young ones while the invocation runs, then freeze what it kept and restore the thresholds."""
    global _collector_off
    _collector_off = False
    gc.freeze()
    thresholds = gc.get_threshold()
    gc.set_threshold(thresholds[0], *_FIRST_INVOCATION_OLDER_THRESHOLDS)
    gc.enable()
    try:
        yield
    finally:
        gc.freeze()
        gc.set_threshold(*thresholds)


def in_progress() -> bool:
    """True between `begin` switching the collector off and the first invocation."""
    return _collector_off

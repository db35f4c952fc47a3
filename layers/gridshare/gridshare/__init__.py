"""Gridshare shared library: domain, adapters, services and HTTP conventions (shipped as a Lambda layer).

Imported first by every Lambda entry: on Lambda, the rest of the init phase runs without the cyclic
garbage collector until the first invocation starts (gridshare.kernel.init_phase).
"""

from gridshare.kernel import init_phase as _init_phase

_init_phase.begin()

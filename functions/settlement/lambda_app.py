"""Lambda entry point of the settlement context's routes (API Gateway proxy events)."""

from gridshare.app_factory import make_app

app = make_app("gridshare-settlement", ["settlement"])

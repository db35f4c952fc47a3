"""Lambda entry point of the alerts context's routes (API Gateway proxy events)."""

from gridshare.app_factory import make_app

app = make_app("gridshare-alerts", ["alerts"])

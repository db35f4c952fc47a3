"""The whole Gridshare API as one Chalice app: used by the local stack and by tests.

On AWS each context runs as its own Lambda (functions/<context>/lambda_app.py), built the same way.
"""

from gridshare.app_factory import make_app

app = make_app("gridshare")

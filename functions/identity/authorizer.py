"""Lambda entry point of the API Gateway TOKEN authorizer."""

from gridshare.identity.authorizer import handler

__all__ = ["handler"]

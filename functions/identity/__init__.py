"""Identity context: registration, login, profile; the API Gateway authorizer."""

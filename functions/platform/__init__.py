"""Platform routes: health and the OpenAPI document."""

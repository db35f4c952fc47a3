"""Platform: health and the OpenAPI document."""

"""Notifications: channels by preference, the in-app inbox and real-time push (docs/notifications.md)."""

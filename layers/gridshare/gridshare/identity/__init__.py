"""Identity: users, roles, sign-up and login, 2FA, lockout, sessions and security events."""

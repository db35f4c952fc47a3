"""Sites context: plants (sites), the devices on them and their energy, investments and shares."""

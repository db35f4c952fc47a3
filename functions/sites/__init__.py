"""Sites context: plants, their devices and energy, investors and shares."""

"""Communities context: energy communities, their members, and the energy shared inside them."""

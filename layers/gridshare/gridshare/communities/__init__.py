"""Energy communities: members, their sharing rule, and the energy shared inside the community."""

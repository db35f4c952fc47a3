"""One construct per context (DESIGN.md section 5); GridshareStack only wires them together."""

"""Quality rules as versioned data: schema, loader, CEL evaluation and the built-in pack."""

"""Quality decisions on lots (holds, releases, blocks) and where they go next."""

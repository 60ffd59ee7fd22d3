"""The alert inbox: alerts raised by rules (or people), and what was done with them."""

"""The recall workflow: scope, impact, containment, notification, effectiveness, close."""

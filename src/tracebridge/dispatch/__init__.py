"""Decisions out: the outbox dispatcher and the connectors that deliver to WMS and ERP."""

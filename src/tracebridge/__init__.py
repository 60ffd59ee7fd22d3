"""TraceBridge: one traceable chain from supplier lot to customer, across ERP and WMS."""

__version__ = "0.1.0"

"""The plant simulator: a sterile single-use device plant, its ERP and WMS exports with
injected faults, and the ground truth to check a trace against."""

from __future__ import annotations

from tracebridge.sim.faults import FaultRates, load_fault_rates
from tracebridge.sim.generator import SimSummary, generate
from tracebridge.sim.truth import Truth, load_truth

__all__ = ["FaultRates", "SimSummary", "Truth", "generate", "load_fault_rates", "load_truth"]

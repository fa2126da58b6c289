"""The analyses of the pipeline as it stands (or stood on any date): funnel, claim, velocity, conformance, tiers."""

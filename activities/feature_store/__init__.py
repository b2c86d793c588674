"""FeaturePipeline's activities: sources to features, the stores, statistics, drift and its alert."""

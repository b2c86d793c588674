"""Production monitoring: the prediction stream a RetrainingMonitor reads and its performance figures."""

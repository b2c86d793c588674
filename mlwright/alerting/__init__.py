"""Alert routing by severity: message shapes per route and a per-route rate limit."""

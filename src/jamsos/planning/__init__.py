"""Planning: targets, attainment and honest forecasts."""

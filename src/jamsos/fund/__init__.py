"""The fund under management (dana kelolaan): projections per program fund, scenarios, indicators."""

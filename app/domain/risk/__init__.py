"""Risk rules of DOMAIN.md §3: margin health, margin events, requirements, stress and VaR
parameters. Standard library only; the numpy VaR maths lives in app.services.risk.var."""

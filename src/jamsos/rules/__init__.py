"""Rules as code: dated, cited parameters and pure vectorised formulas for contributions and benefits."""

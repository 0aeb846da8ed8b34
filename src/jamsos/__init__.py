"""jamsos: administer and steer an employment social-security scheme (BPJS Ketenagakerjaan model)."""

__version__ = "0.1.0"

"""The command line (Typer): the calculator, the rules, the demo."""

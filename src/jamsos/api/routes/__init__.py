"""The API's operations, one router per context: system, administration, registry and ledger."""

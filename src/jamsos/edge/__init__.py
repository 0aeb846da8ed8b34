"""The edge kit: what the API, the web app and the command line share below them (the audit call, masking,
parsing of months and days, problem rendering), so that each is decided once."""

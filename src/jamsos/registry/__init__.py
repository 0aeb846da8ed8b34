"""Registry: employers, workers, sponsors, projects and memberships, with reference regions and offices."""

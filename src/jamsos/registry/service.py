"""Registry use cases: register employers, workers, sponsors and projects; enrol, correct and end memberships.

Every change is a new version row (valid time + recorded time); nothing is updated in place.
Services never commit: the caller owns the transaction.

This module is the registry's entrance (``from jamsos.registry import service as registry``); the use cases live
in ``employers``, ``workers``, ``parties`` (sponsors and projects), ``memberships``, ``scope``, ``search`` and
``lookups``, the warehouse's read models in ``facts``, the shared SQL (numbers, bitemporal versions) in
``repository`` and the checks made before any lookup in ``domain``.
"""

from jamsos.registry.domain import MEMBERSHIP_AMOUNTS, MEMBERSHIP_FIELDS
from jamsos.registry.employers import Registered, change_employer, employer_id_of, employer_state, register_employer
from jamsos.registry.facts import (
    FACTS,
    fact_chunk,
    membership_segments,
    offices,
    registrations,
    steering_attributes,
)
from jamsos.registry.lookups import (
    account_holders,
    account_ids_by_va,
    account_of_va,
    branch_kanwil,
    branches_of_kanwil,
    known_provinces,
    membership_labels,
    minimum_wages,
    sector_risk_classes,
    worker_niks,
)
from jamsos.registry.memberships import (
    check_enrolment,
    correct_membership,
    enrol,
    exit_membership,
    membership_history,
    membership_state,
    memberships_in_force,
    pu_members,
)
from jamsos.registry.parties import projects_started_by, register_project, register_sponsor
from jamsos.registry.repository import (
    SYSTEM,
    reserve_numbers,
    version_of,
    versions_as_of,
)
from jamsos.registry.scope import (
    account_in_scope,
    employer_condition,
    employer_visible,
    membership_in_scope,
    regency_in_scope,
    require_everything,
    require_regency,
    visible_employer,
    visible_membership,
    visible_worker,
    worker_condition,
    worker_visible,
)
from jamsos.registry.search import search
from jamsos.registry.workers import likely_duplicates, nik_of, register_worker, worker_of, worker_profile

__all__ = [
    "FACTS",
    "MEMBERSHIP_AMOUNTS",
    "MEMBERSHIP_FIELDS",
    "SYSTEM",
    "Registered",
    "account_holders",
    "account_ids_by_va",
    "account_in_scope",
    "account_of_va",
    "branch_kanwil",
    "branches_of_kanwil",
    "change_employer",
    "check_enrolment",
    "correct_membership",
    "employer_condition",
    "employer_id_of",
    "employer_state",
    "employer_visible",
    "enrol",
    "exit_membership",
    "fact_chunk",
    "known_provinces",
    "likely_duplicates",
    "membership_history",
    "membership_in_scope",
    "membership_labels",
    "membership_segments",
    "membership_state",
    "memberships_in_force",
    "minimum_wages",
    "nik_of",
    "offices",
    "projects_started_by",
    "pu_members",
    "regency_in_scope",
    "register_employer",
    "register_project",
    "register_sponsor",
    "register_worker",
    "registrations",
    "require_everything",
    "require_regency",
    "reserve_numbers",
    "search",
    "sector_risk_classes",
    "steering_attributes",
    "version_of",
    "versions_as_of",
    "visible_employer",
    "visible_membership",
    "visible_worker",
    "worker_condition",
    "worker_niks",
    "worker_of",
    "worker_profile",
    "worker_visible",
]

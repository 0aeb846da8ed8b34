"""Request bodies and responses of the REST API (Pydantic): what the OpenAPI document shows of each operation."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field


class EmployerIn(BaseModel):
    name: str
    legal_form: str = "pt"
    sector: str = Field(description="KBLI section letter; sets the JKK risk class unless risk_class is given")
    size_class: str = Field(description="mikro, kecil, menengah, besar")
    regency_code: str = Field(description="PPKK, e.g. 8271 (Kota Ternate)")
    valid_from: dt.date
    risk_class: str | None = None
    labour_intensive: bool = False
    ecosystems: list[str] = []
    npp: str | None = None


class EmployerChange(BaseModel):
    valid_from: dt.date
    valid_to: dt.date | None = None
    risk_class: str | None = None
    size_class: str | None = None
    regency_code: str | None = None


class WorkerIn(BaseModel):
    nik: str = Field(description="16-digit NIK; birth date and sex must agree with it")
    name: str
    valid_from: dt.date
    birth_date: dt.date | None = None
    sex: str | None = None
    regency_code: str | None = None


class SponsorIn(BaseModel):
    code: str
    name: str
    payer_source: str = Field(description="apbd, apbdes, csr, donor")
    regency_code: str | None = None


class ProjectIn(BaseModel):
    code: str
    npp: str
    name: str
    contract_value: int
    spk_date: dt.date
    start_date: dt.date
    end_date: dt.date
    regency_code: str


class MembershipIn(BaseModel):
    nik: str
    segment: str = Field(description="pu, bpu, jakon, pmi")
    valid_from: dt.date
    valid_to: dt.date | None = None
    npp: str | None = None
    project_code: str | None = None
    wage: int | None = None
    income: int | None = None
    programs: list[str] = []
    payer_source: str | None = None
    sponsor_code: str | None = None
    ecosystem: str | None = None
    channel: str | None = None
    agent: str | None = None
    transport: bool = False
    contract_months: int | None = None
    jht_amount: int | None = None


class Correction(BaseModel):
    valid_from: dt.date
    valid_to: dt.date | None = None
    wage: int | None = None
    income: int | None = None
    programs: list[str] | None = None
    payer_source: str | None = None
    sponsor_code: str | None = None


class ExitIn(BaseModel):
    exit_date: dt.date
    reason: str = Field(description="resignation, dismissal, death, end_of_project, end_of_placement")


class RunIn(BaseModel):
    period: str = Field(description="YYYY-MM")


class ReversalIn(BaseModel):
    reason: str


class ExportIn(BaseModel):
    out: str = Field(max_length=200, description="Warehouse folder under the server's export root (JAMSOS_EXPORT_ROOT)")


# ---- responses ------------------------------------------------------------------------------------------
class ProblemItem(BaseModel):
    row: int | None = Field(description="the file's row (1 is the header), when the problem is in a file")
    field: str
    message: str
    value: str | None


class Problem(BaseModel):
    """What every refusal answers: a code (one per kind of domain error), a message and, for bad input, the first
    problems (each naming its row and field) and how many there were. Nothing was applied."""

    code: str
    message: str
    total: int | None = None
    problems: list[ProblemItem] | None = None


class Health(BaseModel):
    status: str
    rules: str = Field(description="the parameter tree's fingerprint (first 12 characters)")


class RotatedToken(BaseModel):
    token: str = Field(description="shown once; the token the call was made with stops at once")
    expires_in_days: int


class Me(BaseModel):
    user: str
    role: str
    kanwil: str | None
    branch: str | None


class ExportDone(BaseModel):
    directory: str
    written: dict[str, int] = Field(description="rows written per dataset")


class EmployerRegistered(BaseModel):
    npp: str
    va_number: str
    branch: str | None


class EmployerVersion(BaseModel):
    npp: str
    version: int


class WorkerRegistered(BaseModel):
    nik: str
    kpj: str
    va_number: str


class SponsorRegistered(BaseModel):
    sponsor: str
    va_number: str


class ProjectRegistered(BaseModel):
    project: str
    va_number: str


class Enrolled(BaseModel):
    membership_id: int


class TransferAsked(BaseModel):
    request_id: int
    status: str


class MembershipVersion(BaseModel):
    membership_id: int
    version: int


class MembershipView(BaseModel):
    state: dict[str, Any] | None = Field(description="the membership in the month asked for, if any")
    history: list[dict[str, Any]] = Field(description="every version on both time axes")


class Declared(BaseModel):
    npp: str
    period: str
    version: int
    rows: int
    unchanged: bool = Field(description="the same wages were declared before: nothing changed")


class RunDone(BaseModel):
    run_id: int
    period: str
    status: str
    memberships: int
    projects: int
    lines: int
    reversals: int
    exceptions: int
    amount: int
    exception_counts: dict[str, int]
    unverified_lines: int


class RunApproved(BaseModel):
    run_id: int
    status: str
    checker: str
    allocations: int
    fines: int
    fine_amount: int
    released: int


class RunRejected(BaseModel):
    run_id: int
    status: str
    checker: str


class PaymentsPosted(BaseModel):
    file: str
    rows: int
    posted: int
    already_posted: int = Field(description="rows of an earlier file: a repeated import changes nothing")
    amount: int
    allocations: int
    fines: int
    fine_amount: int


Record = dict[str, Any]  # a service's record as it is shown (masked where the role calls for it)

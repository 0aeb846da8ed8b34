"""Request bodies of the REST API (Pydantic)."""

from __future__ import annotations

import datetime as dt

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

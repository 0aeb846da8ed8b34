"""Administration: reference data (regions, offices, minimum wages) and the warehouse export."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter
from starlette.datastructures import FormData

from jamsos.api import schemas as s
from jamsos.api.deps import (
    Actor,
    Audit,
    Ctx,
    Db,
    Now,
    Rules,
    allowed,
    confined,
    fails,
    uploads,
)
from jamsos.auth import domain as authz
from jamsos.edge.http import multipart_body
from jamsos.kernel.errors import FieldProblem, InvalidInput
from jamsos.registry import reference
from jamsos.warehouse import export

router = APIRouter()


@router.post(
    "/reference",
    status_code=201,
    response_model=dict[str, int],
    responses=fails(409),
    tags=["administration"],
    openapi_extra=multipart_body(("files",)),
)
def post_reference(
    audit: Audit,
    actor: Annotated[authz.Principal, allowed("reference")],
    form: Annotated[FormData, uploads(("files",), max_files=len(reference.FILES))],
    db: Db,
) -> dict[str, int]:
    """Replace reference data with the uploaded CSV files (named as in docs/operations.md);
    files not uploaded keep their defaults."""
    with tempfile.TemporaryDirectory() as tmp:
        names = []
        for upload in form.getlist("files"):
            if isinstance(upload, str):
                raise InvalidInput([FieldProblem("files", "must be files")])
            name = Path(upload.filename or "").name
            if name not in {f"{n}.csv" for n in reference.FILES}:
                raise InvalidInput([FieldProblem("files", "unknown reference file", value=name)])
            upload.file.seek(0)
            (Path(tmp) / name).write_bytes(upload.file.read())
            names.append(name)
        result = reference.load_reference(db, Path(tmp))
    audit(actor, "load_reference", "reference", files=names)
    return result


@router.post(
    "/warehouse/exports", status_code=201, response_model=s.ExportDone, responses=fails(), tags=["administration"]
)
def post_export(
    now: Now, audit: Audit, rules: Rules, api: Ctx, body: s.ExportIn, db: Db, actor: Actor
) -> dict[str, Any]:
    """Write new facts to the Parquet warehouse folder on the server (incremental)."""
    actor.allow("export")
    out = confined(api.settings.exports, body.out)
    result = export.export(db, out=out, tree=rules, known_at=now, pseudonym_key=api.pseudonym_key).to_json()
    audit(actor, "export", "warehouse", key=body.out)
    return result

"""Business units (R-BU-1). The primary one, ``Account``, always exists."""

from __future__ import annotations

from fastapi import APIRouter, status

from engine.api.deps import SessionDep
from engine.api.schemas.crm import BusinessUnitCreate, BusinessUnitOut
from engine.crm import accounts

router = APIRouter(prefix="/business-units", tags=["business units"])


@router.get("")
def list_business_units(session: SessionDep) -> list[BusinessUnitOut]:
    return [BusinessUnitOut.model_validate(unit.model_dump()) for unit in accounts.list_business_units(session)]


@router.post("", status_code=status.HTTP_201_CREATED)
def create_business_unit(body: BusinessUnitCreate, session: SessionDep) -> BusinessUnitOut:
    unit = accounts.create_business_unit(session, body.name)
    session.commit()
    session.refresh(unit)
    return BusinessUnitOut.model_validate(unit.model_dump())

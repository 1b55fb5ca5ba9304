"""Account users: the CRM's own staff, never synced as contacts (R-EXC-1)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from engine.api.deps import SessionDep
from engine.api.schemas.crm import AccountUserCreate, AccountUserOut, PathId
from engine.crm import accounts

router = APIRouter(prefix="/account-users", tags=["account users"])


@router.post("", status_code=status.HTTP_201_CREATED)
def create_account_user(body: AccountUserCreate, session: SessionDep) -> AccountUserOut:
    user = accounts.create_account_user(session, email=body.email, name=body.name)
    session.commit()
    session.refresh(user)
    return AccountUserOut.model_validate(user.model_dump())


@router.get("")
def list_account_users(session: SessionDep) -> list[AccountUserOut]:
    return [AccountUserOut.model_validate(user.model_dump()) for user in accounts.list_account_users(session)]


@router.delete("/{account_user_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_account_user(account_user_id: PathId, session: SessionDep) -> Response:
    accounts.delete_account_user(session, account_user_id)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)

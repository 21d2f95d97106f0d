"""Who is asking, for every route of the footfall pages: Airflow's own user, from its JWT (cookie or bearer).

Airflow mounts a plugin's FastAPI app as it is: the api-server's auth does not cover it. Each route
depends on `create_viewer_dependency()`, which resolves the user with Airflow's `get_user` (401 without a token, 403 for
an invalid one) and asks Airflow's auth manager whether that user may read DAGs (403 otherwise).
A site's own data additionally needs read access to that site's DAG (`require_site`).
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, HTTPException, status


def create_viewer_dependency() -> Any:
    """The dependency, built inside the api-server (importing Airflow's security module needs its settings)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.core_api.security import get_user

    async def current_viewer(user: Any = Depends(get_user)) -> Any:  # noqa: B008 - FastAPI's dependency form
        if not get_auth_manager().is_authorized_dag(method="GET", user=user):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "not allowed to read DAGs")
        return user

    return current_viewer


def require_site(user: Any, dag_id: str) -> None:
    """403 unless `user` may read this site's DAG."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails

    if not get_auth_manager().is_authorized_dag(method="GET", user=user, details=DagDetails(id=dag_id)):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"not allowed to read {dag_id}")


def readable_dag_ids(user: Any) -> set[str]:
    """The DAG ids this user may read (one call to the auth manager for the whole Sites page)."""
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager().get_authorized_dag_ids(user=user, method="GET")

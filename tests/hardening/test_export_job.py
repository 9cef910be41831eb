"""Exports beyond EXPORT_MAX_ROWS become a background job the user downloads when it is ready."""

import csv
import io

import pytest

from audit.models import ExportJob
from audit.tasks import export_build
from tests.factories import DeliveryFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def three_deliveries(tenant, settings):
    settings.EXPORT_MAX_ROWS = 2
    return DeliveryFactory.create_batch(3, tenant=tenant)


def _rows(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode())))


def test_a_small_export_is_streamed_at_once(owner_api, tenant, settings):
    settings.EXPORT_MAX_ROWS = 10
    DeliveryFactory.create_batch(3, tenant=tenant)

    response = owner_api.get("/api/v1/deliveries/export.csv")

    assert response.status_code == 200
    assert len(_rows(b"".join(response.streaming_content))) == 4
    assert not ExportJob.objects.exists()


def test_an_api_export_beyond_the_cap_becomes_a_job_downloaded_when_ready(owner_api, other_api, three_deliveries):
    response = owner_api.get("/api/v1/deliveries/export.csv")

    assert response.status_code == 202
    job = response.json()
    assert job["status"] == "queued" and job["download_url"] is None
    assert owner_api.get(f"/api/v1/exports/{job['id']}/download/").status_code == 409

    export_build(job["id"])  # what the worker runs

    ready = owner_api.get(f"/api/v1/exports/{job['id']}/").json()
    assert ready["status"] == "done" and ready["rows"] == 3
    download = owner_api.get(ready["download_url"])
    assert download.status_code == 200
    assert download["Content-Type"].startswith("text/csv")
    rows = _rows(download.content)
    assert rows[0][0] == "id" and {r[0] for r in rows[1:]} == {str(d.pk) for d in three_deliveries}
    assert other_api.get(f"/api/v1/exports/{job['id']}/").status_code == 404  # another tenant's job


def test_the_stored_export_is_encrypted_at_rest(owner_api, three_deliveries):
    job_id = owner_api.get("/api/v1/deliveries/export.csv").json()["id"]
    export_build(job_id)

    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT content FROM audit_exportjob WHERE id = %s", [job_id])
        stored = cursor.fetchone()[0]
    assert "channel_id" not in stored and stored.startswith("gAAAA")  # a Fernet token


def test_a_web_export_beyond_the_cap_waits_on_a_page_then_downloads(owner_client, three_deliveries):
    response = owner_client.get("/activity/export.csv")

    assert response.status_code == 302
    page = owner_client.get(response["Location"])
    assert page.status_code == 200
    assert "Being prepared" in page.content.decode()

    export_build(ExportJob.objects.get().pk)

    download = owner_client.get(response["Location"])
    assert download["Content-Type"].startswith("text/csv")
    assert len(_rows(download.content)) == 4

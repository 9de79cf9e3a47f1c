"""What the API sends is what its document says: each resource has exactly the fields of its
response model, of the documented types (the fuzz test checks the types on generated input;
this checks that no field goes undocumented or missing)."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from pydantic import BaseModel

from web.models.calls import Call, CallbackDelivery, Event
from web.models.campaign_views import Campaign, Contact, HistoryEntry, StoredUpload, Upload
from web.models.dnc import DncAdded, DncList
from web.models.system import Ready, TrunkLines


def fields_of(model: type[BaseModel]) -> set[str]:
    return {info.alias or name for name, info in model.model_fields.items()}


def assert_is(model: type[BaseModel], sent: Any) -> None:
    assert isinstance(sent, dict)
    assert set(sent) == fields_of(model), model.__name__
    model.model_validate(sent)


def test_every_resource_has_exactly_its_documented_fields(client: FlaskClient) -> None:
    call = client.post("/v1/calls", json={"to": "09121234567", "metadata": {"a": 1}})
    assert call.status_code == 202
    assert_is(Call, call.get_json())
    for event in client.get(f"/v1/calls/{call.get_json()['id']}/events").get_json()["data"]:
        assert_is(Event, event)

    dnc = client.post("/v1/dnc-lists", json={"name": "complaints"})
    assert dnc.status_code == 201
    assert_is(DncList, dnc.get_json())
    assert_is(DncAdded, client.post("/v1/dnc-lists/complaints/numbers",
                                    json={"numbers": ["09121234567", "x"]}).get_json())

    campaign = client.post("/v1/campaigns", json={
        "name": "shape", "target": {"context": "survey"}, "dnc_lists": ["complaints"],
        "status_callback": "https://hooks.example.com/c",
        "retry": {"busy": {"max_attempts": 2, "delay": 60}},
        "windows": [{"days": ["sat"], "start": "09:00", "end": "18:00"}]})
    assert campaign.status_code == 201
    assert_is(Campaign, campaign.get_json())
    cid = campaign.get_json()["id"]
    upload = client.post(f"/v1/campaigns/{cid}/contacts", data="to\n09121234569\nbad\n",
                         content_type="text/csv")
    assert_is(Upload, upload.get_json())
    assert_is(StoredUpload, client.get(f"/v1/campaigns/{cid}/uploads").get_json()["data"][0])
    assert_is(Contact, client.get(f"/v1/campaigns/{cid}/contacts").get_json()["data"][0])
    assert client.post(f"/v1/campaigns/{cid}/start").status_code == 200
    [started] = client.get(f"/v1/campaigns/{cid}/callbacks").get_json()["data"]
    assert_is(CallbackDelivery, started)
    history = client.get(f"/v1/campaigns/{cid}/history").get_json()["data"]
    assert len(history) >= 3
    for entry in history:
        assert_is(HistoryEntry, entry)

    assert_is(TrunkLines, client.get("/v1/trunks").get_json()["data"][0])
    assert_is(Ready, client.get("/readyz").get_json())

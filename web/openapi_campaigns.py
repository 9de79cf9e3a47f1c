"""The campaign and do-not-call list operations of the OpenAPI document."""

from __future__ import annotations

from web.models.calls import CallbackDeliveryList
from web.models.campaign_views import (
    Campaign,
    CampaignList,
    ContactList,
    History,
    Upload,
    UploadList,
)
from web.models.campaigns import (
    CampaignBody,
    CampaignPatch,
    CampaignQuery,
    ContactQuery,
    UploadQuery,
)
from web.models.common import Acknowledged
from web.models.dnc import (
    DncAdded,
    DncList,
    DncListBody,
    DncLists,
    DncNumberQuery,
    DncNumbers,
    DncNumbersBody,
)
from web.openapi_build import IDEMPOTENCY_KEY, Operation

WRITE = (400, 413, 415, 422)
ONE = "/v1/campaigns/{campaign_id}"


def _lifecycle(action: str, summary: str) -> Operation:
    return Operation("post", f"{ONE}/{action}", summary, Campaign, errors=(*WRITE, 404, 409),
                     body=Acknowledged, body_required=False)


CAMPAIGN_OPERATIONS = [
    Operation("post", "/v1/campaigns", "Create a campaign (draft)", Campaign, status=201,
              errors=WRITE, body=CampaignBody),
    Operation("get", "/v1/campaigns", "List campaigns, newest first", CampaignList,
              errors=(400, 422), query=CampaignQuery),
    Operation("get", ONE, "A campaign with its progress, counts and ETA", Campaign,
              errors=(404,)),
    Operation("patch", ONE, "Change settings of a draft, running or paused campaign",
              Campaign, errors=(*WRITE, 404, 409), body=CampaignPatch),
    _lifecycle("start", "draft -> running"),
    _lifecycle("pause", "running -> paused: no new dials; calls in progress end"),
    _lifecycle("resume", "paused -> running"),
    _lifecycle("cancel", "never dial another contact"),
    Operation("post", f"{ONE}/contacts", "Upload contacts (CSV with a header row, or JSON "
              "lines); one chunk is stored atomically", Upload, errors=(*WRITE, 404, 409),
              body_types=("text/csv", "application/x-ndjson"),
              query=UploadQuery, headers=(IDEMPOTENCY_KEY,)),
    Operation("get", f"{ONE}/contacts", "Contacts of a campaign (keyset pagination)",
              ContactList, errors=(400, 404, 422), query=ContactQuery),
    Operation("get", f"{ONE}/history", "Who created, changed, uploaded to, started, paused, "
              "resumed or canceled the campaign, and when it completed", History,
              errors=(404,)),
    Operation("get", f"{ONE}/callbacks", "Lifecycle callbacks of the campaign "
              "(campaign.started, .paused, .resumed, .canceled, .completed) and their "
              "deliveries, in sequence order", CallbackDeliveryList, errors=(404,)),
    Operation("get", f"{ONE}/uploads", "Uploads of a campaign with their counts", UploadList,
              errors=(404,)),
    Operation("get", f"{ONE}/uploads/{{upload_id}}/rejects",
              "Rejected rows of an upload as CSV (line, reason)", "text/csv", errors=(404,)),
    Operation("get", f"{ONE}/export",
              "Every contact with its attempts and final outcome, as CSV", "text/csv",
              errors=(404,)),
    Operation("post", "/v1/dnc-lists", "Create a do-not-call list", DncList, status=201,
              errors=(*WRITE, 409), body=DncListBody),
    Operation("get", "/v1/dnc-lists", "Do-not-call lists with their sizes", DncLists),
    Operation("post", "/v1/dnc-lists/{name}/numbers", "Add numbers (stored in E.164)",
              DncAdded, errors=(*WRITE, 404), body=DncNumbersBody),
    Operation("get", "/v1/dnc-lists/{name}/numbers", "Numbers on a list; ?number= checks one",
              DncNumbers, errors=(400, 404, 422), query=DncNumberQuery),
    Operation("delete", "/v1/dnc-lists/{name}/numbers/{number}", "Take a number off a list",
              None, status=204, errors=(404,)),
]

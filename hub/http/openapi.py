"""The OpenAPI 3.1 document: every endpoint and every error it can answer."""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import contracts
from hub.domain import delivery
from hub.registry.compat import MODES

SIGNED: list[dict[str, list[str]]] = [{"httpSignature": []}]


def _problem(desc: str) -> dict[str, Any]:
    return {"description": desc,
            "content": {"application/problem+json": {
                "schema": {"$ref": "#/components/schemas/Problem"}}}}


def _json(ref: str, desc: str) -> dict[str, Any]:
    return {"description": desc,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}


DELIVERY_ID = {"name": "delivery_id", "in": "path", "required": True,
               "schema": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}}
OPEN = {"type": "object"}
SUBJECT = {"name": "subject", "in": "path", "required": True, "schema": {"type": "string"}}
VERSION_N = {"name": "n", "in": "path", "required": True, "schema": {"type": "integer"}}
YEAR = {"name": "year", "in": "path", "required": True,
        "schema": {"type": "integer", "minimum": 2000, "maximum": 2100}}

AUTH_ERRORS = {
    "401": _problem("signature missing, malformed, invalid, expired, unknown key "
                    "or replayed nonce"),
    "413": _problem("body larger than the configured limit"),
}


# the member-facing calls a department retries on: 503 with Retry-After while the database is
# unreachable (every other endpoint answers the same problem then)
UNAVAILABLE = {"503": _problem("database_unavailable: the database is unreachable for a moment; "
                               "retry after Retry-After seconds (same event ids are safe)")}

ADMIN_ERRORS = {**AUTH_ERRORS, "403": _problem("the signing member lacks the admin role")}


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Retirement one-thing data-exchange hub (退休“一件事”数据共享中转)",
            "version": "1.0.0",
            "description": (
                "Signed CloudEvents in, routed deliveries out. Every /v1 request carries an "
                "RFC 9421 HTTP Message Signature (ed25519, or sm2-sm3 for an SM2 key; covers "
                "@method @authority @path @query, plus content-type and content-digest with a "
                "body; created, expires <= 5 min, keyid, nonce, tag=\"retirement-hub\"). "
                "Errors are RFC 9457 problem documents."),
        },
        "components": {
            "securitySchemes": {
                "httpSignature": {"type": "apiKey", "in": "header", "name": "Signature",
                                  "description": "RFC 9421 Signature and Signature-Input headers"},
            },
            "schemas": {
                "Problem": {
                    "type": "object",
                    "required": ["type", "title", "status", "code", "detail", "detail_zh",
                                 "errors"],
                    "properties": {
                        "type": {"type": "string"}, "title": {"type": "string"},
                        "status": {"type": "integer"}, "code": {"type": "string"},
                        "detail": {"type": "string"}, "detail_zh": {"type": "string"},
                        "error_count": {"type": "integer", "description":
                                        "all problems found, when more than the listed 100"},
                        "errors_truncated": {"type": "boolean"},
                        "errors": {"type": "array", "maxItems": 100, "items": {
                            "type": "object", "required": ["path", "code", "message", "message_zh"],
                            "properties": {"path": {"type": "string"}, "code": {"type": "string"},
                                           "message": {"type": "string"},
                                           "message_zh": {"type": "string"}}}},
                    },
                },
                "CloudEvent": {
                    "type": "object",
                    "required": ["specversion", "id", "source", "type", "subject", "data"],
                    "properties": {
                        "specversion": {"const": "1.0"}, "id": {"type": "string", "minLength": 1},
                        "source": {"type": "string", "description": "the publishing member id"},
                        "type": {"type": "string",
                                 "pattern": r"^cn\.gov\.js\.retirement\.[a-z0-9.-]+\.v[0-9]+$"},
                        "subject": {"type": "string", "description": "the case id"},
                        "time": {"type": "string", "format": "date-time"},
                        "dataschema": {"type": "string", "description": "the contract $id"},
                        "datacontenttype": {"const": "application/json"},
                        "data": {"type": "object"},
                    },
                },
                "Receipts": {"type": "object", "required": ["receipts"], "properties": {
                    "receipts": {"type": "array", "items": {"type": "object", "properties": {
                        "id": {"type": "string"}, "source": {"type": "string"},
                        "sequence": {"type": "integer"}, "received_at": {"type": "string"},
                        "status": {"enum": ["accepted", "duplicate"]},
                        "warnings": {"type": "array", "description": "accepted, but worth a "
                                     "look (code, path, message, message_zh)",
                                     "items": OPEN}}}}}},
                "Checkpoint": {
                    "type": "object",
                    "required": ["origin", "size", "root_hash", "time", "keyid", "signature",
                                 "note"],
                    "description": "The hub's signed statement of the message log (RFC 9162 tree). "
                                   "The Ed25519 signature (base64) covers `note`: origin, size, "
                                   "root hash (base64) and time, one per line.",
                    "properties": {
                        "origin": {"type": "string"}, "size": {"type": "integer", "minimum": 0},
                        "root_hash": {"type": "string"}, "time": {"type": "string"},
                        "keyid": {"type": "string"}, "signature": {"type": "string"},
                        "note": {"type": "string"},
                        "cosignatures": {"type": "array", "items": {"type": "object"}}}},
                "InclusionProof": {
                    "type": "object",
                    "required": ["leaf_index", "leaf", "tree_size", "proof", "checkpoint"],
                    "properties": {
                        "leaf_index": {"type": "integer"},
                        "leaf": {"type": "string", "description": "the leaf's canonical JSON"},
                        "tree_size": {"type": "integer"},
                        "proof": {"type": "array", "items": {"type": "string"},
                                  "description": "base64 hashes, nearest sibling first"},
                        "checkpoint": {"$ref": "#/components/schemas/Checkpoint"}}},
                "ConsistencyProof": {
                    "type": "object", "required": ["from", "to", "from_root", "to_root", "proof"],
                    "properties": {
                        "from": {"type": "integer"}, "to": {"type": "integer"},
                        "from_root": {"type": "string"}, "to_root": {"type": "string"},
                        "proof": {"type": "array", "items": {"type": "string"}},
                        "checkpoints": {"type": "array",
                                        "items": {"$ref": "#/components/schemas/Checkpoint"}}}},
                "Feed": {"type": "object", "required": ["items", "next_cursor", "has_more"],
                         "properties": {
                             "items": {"type": "array", "items": {"type": "object", "properties": {
                                 "cursor": {"type": "integer"},
                                 "event": {"$ref": "#/components/schemas/CloudEvent"}}}},
                             "next_cursor": {"type": "integer"}, "has_more": {"type": "boolean"}}},
                "Ack": {"type": "object", "required": ["cursor"],
                        "properties": {"cursor": {"type": "integer", "minimum": 0}}},
                "AckResult": {"type": "object", "properties": {
                    "cursor": {"type": "integer"}, "acknowledged": {"type": "integer"}}},
                "Subjects": {"type": "object", "properties": {"subjects": {
                    "type": "array", "items": OPEN}}},
                "Versions": {"type": "object", "properties": {
                    "subject": {"type": "string"}, "compatibility": {"type": "string"},
                    "versions": {"type": "array", "items": OPEN}}},
                "Contract": {"type": "object",
                             "required": ["subject", "version", "id", "state", "schema"],
                             "properties": {"subject": {"type": "string"},
                                            "version": {"type": "integer"},
                                            "id": {"type": "string"},
                                            "state": {"enum": ["active", "deprecated", "retired"]},
                                            "schema": OPEN}},
                "SubjectConfig": {"type": "object", "properties": {
                    "subject": {"type": "string"}, "compatibility": {"type": "string"}}},
                "Items": {"type": "object", "properties": {"items": {"type": "array",
                                                                      "items": OPEN}}},
                "Item": OPEN,
                "MemberView": OPEN,
                "Audit": {"type": "object", "properties": {"audit": {"type": "array",
                                                                      "items": OPEN}}},
                "Deliveries": {"type": "object", "properties": {"deliveries": {
                    "type": "array", "items": OPEN}}},
                "Attempts": {"type": "object", "properties": {"attempts": {
                    "type": "array", "items": OPEN}}},
                "Calendars": {"type": "object", "properties": {
                    "calendars": {"type": "array", "items": OPEN}, "status": OPEN}},
                "Calendar": OPEN,
                "CalendarRegistered": {"type": "object", "properties": {
                    "year": {"type": "integer"}, "version": {"type": "integer"},
                    "created": {"type": "boolean"}, "recomputed": OPEN}},
                "Notices": {"type": "object", "properties": {"notices": {
                    "type": "array", "items": OPEN}}},
                "Replay": {"type": "object", "properties": {
                    "replayed": {"type": "integer"}, "first": {"type": ["integer", "null"]},
                    "last": {"type": ["integer", "null"]}}},
                "Endpoint": {"type": "object", "properties": {
                    "member": {"type": "string"}, "push_url": {"type": ["string", "null"]},
                    "enabled": {"type": "boolean"}, "reason": {"type": ["string", "null"]}}},
                "CaseStatus": {
                    "description": "the case-status contract's fields plus each item's history, "
                                   "the issues reported against the case and its timestamps",
                    "type": "object",
                    "required": ["case_id", "city_code", "state", "updated_at", "items", "issues"],
                    "properties": {
                        "case_id": {"type": "string"}, "city_code": {"type": "string"},
                        "state": {"enum": contracts.codes("case_state")},
                        "updated_at": {"type": "string"}, "created_at": {"type": "string"},
                        "closed_at": {"type": "string"},
                        "items": {"type": "array", "items": {
                            "type": "object", "required": ["code", "state", "state_zh", "history"],
                            "properties": {
                                "code": {"type": "string"}, "name_zh": {"type": "string"},
                                "state": {"enum": contracts.codes("item_state")},
                                "state_zh": {"type": "string"}, "reason": {"type": "object"},
                                "deadlines": {"type": "object"}, "result": {"type": "object"},
                                "history": {"type": "array", "items": {"type": "object"}}}}},
                        "issues": {"type": "array", "items": {"type": "object"}},
                    },
                },
            },
        },
        "paths": {
            "/v1/events": {"post": {
                "summary": "Publish one event or a batch (all or nothing)",
                "security": SIGNED,
                "requestBody": {"required": True, "content": {
                    "application/cloudevents+json": {
                        "schema": {"$ref": "#/components/schemas/CloudEvent"}},
                    "application/cloudevents-batch+json": {"schema": {
                        "type": "array", "items": {"$ref": "#/components/schemas/CloudEvent"}}}}},
                "responses": {
                    "202": _json("Receipts", "accepted and durable; one receipt per event"),
                    "400": _problem("malformed JSON or an empty batch"),
                    "403": _problem("source is not the signer, or the type may not be published"),
                    "404": _problem("the case named by subject does not exist for this member"),
                    "409": _problem("same id with other content, case exists, "
                                    "illegal item transition"),
                    "415": _problem("content type is not CloudEvents structured or batch JSON"),
                    "422": _problem("envelope, contract or domain rule problems, "
                                    "every one with its path"),
                    **AUTH_ERRORS, **UNAVAILABLE}}},
            "/v1/feed": {"get": {
                "summary": "The caller's events in order after a cursor",
                "security": SIGNED,
                "parameters": [
                    {"name": "after", "in": "query",
                     "schema": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
                     "description": "cursor; default: the last acknowledged one"},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                                "maximum": 500}}],
                "responses": {"200": _json("Feed", "events and the next cursor"),
                              "400": _problem("bad query parameter"), **AUTH_ERRORS,
                              **UNAVAILABLE}}},
            "/v1/feed/ack": {"post": {
                "summary": "Acknowledge everything served up to a cursor (records delivery)",
                "security": SIGNED,
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Ack"}}}},
                "responses": {"200": _json("AckResult", "recorded"),
                              "400": _problem("malformed JSON"),
                              "409": _problem("cursor beyond what the feed has served"),
                              "422": _problem("cursor missing or not a non-negative integer"),
                              **AUTH_ERRORS, **UNAVAILABLE}}},
            "/v1/cases/{case_id}": {"get": {
                "summary": "The merged status of a case the caller takes part in",
                "security": SIGNED,
                "parameters": [{"name": "case_id", "in": "path", "required": True,
                                "schema": {"type": "string"}}],
                "responses": {"200": _json("CaseStatus",
                                           "each item's state, history, reasons, deadlines"),
                              "404": _problem("no such case, or the caller takes no part in it"),
                              **AUTH_ERRORS}}},
            "/v1/log/checkpoints/latest": {"get": {
                "summary": "The latest signed checkpoint of the message log", "security": SIGNED,
                "responses": {"200": _json("Checkpoint", "the checkpoint"), **AUTH_ERRORS}}},
            "/v1/log/checkpoints/{size}": {"get": {
                "summary": "The signed checkpoint of a given tree size", "security": SIGNED,
                "parameters": [{"name": "size", "in": "path", "required": True,
                                "schema": {"type": "integer", "minimum": 0,
                                           "maximum": 2**63 - 1}}],
                "responses": {"200": _json("Checkpoint", "the checkpoint"),
                              "404": _problem("no checkpoint of that size"), **AUTH_ERRORS}}},
            "/v1/log/checkpoints/{size}/cosignatures": {"post": {
                "summary": "A witness co-signs a checkpoint (its signature over the same note)",
                "security": SIGNED,
                "parameters": [{"name": "size", "in": "path", "required": True,
                                "schema": {"type": "integer", "minimum": 0,
                                           "maximum": 2**63 - 1}}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["signature"], "properties": {
                        "signature": {"type": "string",
                                      "description": "base64 Ed25519 signature of `note`, "
                                                     "by the key signing this request"}}}}}},
                "responses": {"200": _json("Checkpoint", "the checkpoint with its co-signatures"),
                              "400": _problem("malformed JSON"),
                              "404": _problem("no checkpoint of that size"),
                              "422": _problem("missing signature, or it does not verify"),
                              **AUTH_ERRORS}}},
            "/v1/log/inclusion": {"get": {
                "summary": "Proof that an event the caller published or was sent is in the log",
                "security": SIGNED,
                "parameters": [{"name": "event", "in": "query", "required": True,
                                "schema": {"type": "string", "minLength": 1, "maxLength": 200}}],
                "responses": {"200": _json("InclusionProof", "leaf, proof and checkpoint"),
                              "400": _problem("missing or over-long event id"),
                              "404": _problem("no such event visible to the caller, not logged, "
                                              "or in no signed checkpoint"),
                              **AUTH_ERRORS}}},
            "/v1/log/consistency": {"get": {
                "summary": "Proof that the log of size `to` extends the log of size `from`",
                "security": SIGNED,
                "parameters": [
                    {"name": "from", "in": "query", "required": True,
                     "schema": {"type": "integer", "minimum": 0}},
                    {"name": "to", "in": "query", "required": True,
                     "schema": {"type": "integer", "minimum": 0}}],
                "responses": {"200": _json("ConsistencyProof", "the proof and both roots"),
                              "400": _problem("missing or non-integer sizes"),
                              "422": _problem("'from' exceeds 'to', or 'to' exceeds the log"),
                              **AUTH_ERRORS}}},
            "/.well-known/jwks.json": {"get": {
                "summary": "The hub's public keys (Ed25519 as RFC 8037 OKP, SM2 as EC/SM2)",
                "responses": {"200": {"description": "JWK set", "content": {
                    "application/jwk-set+json": {"schema": {"type": "object"}}}}}}},
            "/openapi.json": {"get": {"summary": "This document",
                                      "responses": {"200": {"description": "OpenAPI 3.1"}}}},
            "/v1/admin/deliveries": {"get": {
                "summary": "Deliveries, newest first (admin)", "security": SIGNED,
                "parameters": [
                    {"name": "member", "in": "query", "schema": {"type": "string"}},
                    {"name": "state", "in": "query",
                     "schema": {"enum": list(delivery.STATES)}},
                    {"name": "since", "in": "query", "schema": {"type": "string",
                                                                "format": "date-time"}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1}}],
                "responses": {"200": _json("Deliveries", "deliveries"),
                              "400": _problem("bad query parameter"), **ADMIN_ERRORS}}},
            "/v1/admin/deliveries/{delivery_id}/attempts": {"get": {
                "summary": "Every attempt of one delivery (admin)", "security": SIGNED,
                "parameters": [DELIVERY_ID],
                "responses": {"200": _json("Attempts", "attempts, oldest first"),
                              "404": _problem("not a delivery id"), **ADMIN_ERRORS}}},
            "/v1/admin/deliveries/{delivery_id}/replay": {"post": {
                "summary": "Deliver one delivery again, same event id (admin)", "security": SIGNED,
                "parameters": [DELIVERY_ID],
                "responses": {"202": _json("Replay", "queued again"),
                              "404": _problem("no such delivery"), **ADMIN_ERRORS}}},
            "/v1/admin/deliveries/replay": {"post": {
                "summary": "Deliver again everything for a member since a time (admin)",
                "security": SIGNED,
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["member"], "properties": {
                        "member": {"type": "string"},
                        "since": {"type": "string", "format": "date-time"},
                        "states": {"type": "array", "items": {
                            "enum": list(delivery.REPLAYABLE)}}}}}}},
                "responses": {"202": _json("Replay", "queued again"),
                              "400": _problem("malformed JSON or time"),
                              "404": _problem("no such member"),
                              "422": _problem("member missing or states invalid"),
                              **ADMIN_ERRORS}}},
            "/v1/admin/members/{member_id}/endpoint": {"put": {
                "summary": "Disable or re-enable a member's push endpoint (admin)",
                "security": SIGNED,
                "parameters": [{"name": "member_id", "in": "path", "required": True,
                                "schema": {"type": "string"}}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["enabled"], "properties": {
                        "enabled": {"type": "boolean"}, "reason": {"type": "string"}}}}}},
                "responses": {"200": _json("Endpoint", "the endpoint's state"),
                              "400": _problem("malformed JSON"),
                              "404": _problem("no such member"),
                              "422": _problem("'enabled' missing"), **ADMIN_ERRORS}}},
            "/v1/admin/calendars": {"get": {
                "summary": "The years the working calendar knows and whether next year is "
                           "missing (admin)",
                "security": SIGNED,
                "responses": {"200": _json("Calendars", "known years and status"),
                              **ADMIN_ERRORS}}},
            "/v1/admin/calendars/{year}": {
                "get": {
                    "summary": "One year's holidays and adjusted working days, with versions "
                               "(admin)",
                    "security": SIGNED, "parameters": [YEAR],
                    "responses": {"200": _json("Calendar", "the year's arrangement"),
                                  "404": _problem("the year is not known"), **ADMIN_ERRORS}},
                "put": {
                    "summary": "Register or correct a year from the State Council notice; open "
                               "items' deadlines are counted again (admin)",
                    "security": SIGNED, "parameters": [YEAR],
                    "requestBody": {"required": True, "content": {"application/json": {
                        "schema": {"type": "object", "required": ["year", "notice", "holidays"],
                                   "properties": {
                                       "year": {"type": "integer"},
                                       "notice": {"type": "string"},
                                       "holidays": {"type": "array", "items": {
                                           "type": "object", "required": ["name", "from"],
                                           "properties": {"name": {"type": "string"},
                                                          "from": {"type": "string",
                                                                   "format": "date"},
                                                          "to": {"type": "string",
                                                                 "format": "date"}}}},
                                       "workdays": {"type": "array", "items": {
                                           "type": "string", "format": "date"}}}}}}},
                    "responses": {"200": _json("CalendarRegistered", "identical: unchanged"),
                                  "201": _json("CalendarRegistered", "a new version"),
                                  "400": _problem("malformed JSON"),
                                  "404": _problem("the path names no year"),
                                  "422": _problem("the document is invalid (every problem "
                                                  "with its path)"), **ADMIN_ERRORS}}},
            "/v1/admin/notices": {"get": {
                "summary": "What administrators must act on, newest first (admin)",
                "security": SIGNED,
                "responses": {"200": _json("Notices", "notices"), **ADMIN_ERRORS}}},
            "/v1/contracts": {"get": {
                "summary": "Contract subjects with their versions and compatibility",
                "security": SIGNED,
                "responses": {"200": _json("Subjects", "subjects"), **AUTH_ERRORS}}},
            "/v1/contracts/{subject}/versions": {"get": {
                "summary": "The versions of one subject and their state", "security": SIGNED,
                "parameters": [SUBJECT],
                "responses": {"200": _json("Versions", "versions"),
                              "404": _problem("no such subject"), **AUTH_ERRORS}}},
            "/v1/contracts/{subject}/versions/{n}": {"get": {
                "summary": "One contract version with its schema", "security": SIGNED,
                "parameters": [SUBJECT, VERSION_N],
                "responses": {"200": _json("Contract", "the contract"),
                              "404": _problem("no such version"), **AUTH_ERRORS}}},
            "/v1/schemas": {"get": {
                "summary": "A contract by its $id", "security": SIGNED,
                "parameters": [{"name": "id", "in": "query", "required": True,
                                "schema": {"type": "string"}}],
                "responses": {"200": _json("Contract", "the contract"),
                              "400": _problem("id missing"),
                              "404": _problem("no contract with this $id"), **AUTH_ERRORS}}},
            "/v1/items": {"get": {
                "summary": "The linked items in force", "security": SIGNED,
                "responses": {"200": _json("Items", "item definitions"), **AUTH_ERRORS}}},
            "/v1/admin/contracts/{subject}/versions": {"post": {
                "summary": "Register the next version of a subject (admin)", "security": SIGNED,
                "parameters": [SUBJECT],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["schema"],
                    "properties": {"schema": {"type": "object"}}}}}},
                "responses": {"201": _json("Contract", "registered"),
                              "200": _json("Contract", "identical to the latest version"),
                              "400": _problem("malformed JSON"),
                              "409": _problem("incompatible: every difference with path and kind"),
                              "422": _problem("not a valid contract (every problem listed)"),
                              **ADMIN_ERRORS}}},
            "/v1/admin/contracts/{subject}/config": {"put": {
                "summary": "Set a subject's compatibility mode (admin)", "security": SIGNED,
                "parameters": [SUBJECT],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["compatibility"], "properties": {
                        "compatibility": {"enum": list(MODES)}}}}}},
                "responses": {"200": _json("SubjectConfig", "the mode"),
                              "400": _problem("malformed JSON"),
                              "422": _problem("unknown mode"), **ADMIN_ERRORS}}},
            "/v1/admin/contracts/{subject}/versions/{n}/state": {"put": {
                "summary": "Deprecate, retire or re-activate a version (admin)", "security": SIGNED,
                "parameters": [SUBJECT, VERSION_N],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["state"], "properties": {
                        "state": {"enum": ["active", "deprecated", "retired"]}}}}}},
                "responses": {"200": _json("Contract", "the version with its new state"),
                              "400": _problem("malformed JSON"),
                              "404": _problem("no such version"),
                              "422": _problem("unknown state"), **ADMIN_ERRORS}}},
            "/v1/admin/items": {"post": {
                "summary": "Register or version a linked item (admin)", "security": SIGNED,
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object",
                    "description": "a linked-item definition: the contract "
                                   + contracts.schema_id("item-definition")}}}},
                "responses": {"201": _json("Item", "in force for new cases"),
                              "400": _problem("malformed JSON"),
                              "422": _problem("malformed or failing checks (every problem listed)"),
                              **ADMIN_ERRORS}}},
            "/v1/admin/items/{code}/retire": {"post": {
                "summary": "Retire a linked item for new cases (admin)", "security": SIGNED,
                "parameters": [{"name": "code", "in": "path", "required": True,
                                "schema": {"type": "string"}}],
                "responses": {"200": _json("Item", "retired"),
                              "404": _problem("no such active item"), **ADMIN_ERRORS}}},
            "/v1/admin/members": {"post": {
                "summary": "Add a member or a key (admin)", "security": SIGNED,
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["id", "public_key_pem"], "properties": {
                        "id": {"type": "string"}, "public_key_pem": {"type": "string"},
                        "keyid": {"type": "string"}, "name": {"type": "string"},
                        "publish": {"type": "array", "items": {"type": "string"}},
                        "subscribe": {"type": "array", "items": {"type": "string"}},
                        "push_url": {"type": "string"},
                        "roles": {"type": "array", "items": {"type": "string"}}}}}}},
                "responses": {"201": _json("MemberView", "the member"),
                              "400": _problem("malformed JSON"),
                              "409": _problem("key id belongs to another member"),
                              "422": _problem("missing fields, unknown event types or a bad key"),
                              **ADMIN_ERRORS}}},
            "/v1/admin/audit": {"get": {
                "summary": "Registry and member changes, newest first (admin)", "security": SIGNED,
                "responses": {"200": _json("Audit", "audit log"), **ADMIN_ERRORS}}},
            "/readyz": {"get": {
                "summary": "Database reachable, keys loaded, worker heartbeat fresh",
                "responses": {"200": {"description": "ready"},
                              "503": {"description": "not ready, with the failing check"}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics",
                                 "responses": {"200": {"description": "text exposition format"}}}},
            "/healthz": {"get": {"summary": "Alive (answers even while the database is "
                                            "unreachable; its state is in the body)",
                                 "responses": {"200": {"description": "ok"}}}},
        },
    }

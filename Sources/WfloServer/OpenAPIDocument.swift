/// The OpenAPI 3.1 document of the server's API, served at `GET /openapi.json`. Written by hand
/// beside the handlers (API.swift): `Tests/WfloServerTests/OpenAPITests.swift` checks that every
/// route and every status the server answers is in it, and that every operation in it is served.
public enum OpenAPIDocument {
    public static let json = #"""
{
  "components": {
    "schemas": {
      "Approval": {
        "properties": {
          "approvers": {
            "items": {
              "type": "string"
            },
            "type": "array"
          },
          "comment": {
            "type": [
              "string",
              "null"
            ]
          },
          "deadline": {
            "format": "date-time",
            "type": [
              "string",
              "null"
            ]
          },
          "decided_at": {
            "format": "date-time",
            "type": [
              "string",
              "null"
            ]
          },
          "decided_by": {
            "type": [
              "string",
              "null"
            ]
          },
          "details": {},
          "id": {
            "type": "string"
          },
          "message": {
            "type": "string"
          },
          "requested_at": {
            "format": "date-time",
            "type": "string"
          },
          "run_id": {
            "type": "string"
          },
          "status": {
            "enum": [
              "pending",
              "approved",
              "rejected",
              "expired"
            ],
            "type": "string"
          },
          "step_id": {
            "type": "string"
          },
          "worst_case_usd": {
            "anyOf": [
              {
                "$ref": "#/components/schemas/Money"
              },
              {
                "type": "null"
              }
            ]
          }
        },
        "required": [
          "id",
          "run_id",
          "step_id",
          "status",
          "message",
          "details",
          "worst_case_usd",
          "approvers",
          "requested_at",
          "deadline",
          "decided_by",
          "decided_at",
          "comment"
        ],
        "type": "object"
      },
      "Conflict": {
        "properties": {
          "error": {
            "properties": {
              "code": {
                "const": "already_decided",
                "type": "string"
              },
              "decided_at": {
                "format": "date-time",
                "type": [
                  "string",
                  "null"
                ]
              },
              "decided_by": {
                "type": "string"
              },
              "message": {
                "type": "string"
              },
              "status": {
                "type": "string"
              }
            },
            "required": [
              "code",
              "message",
              "decided_by",
              "decided_at"
            ],
            "type": "object"
          }
        },
        "required": [
          "error"
        ],
        "type": "object"
      },
      "DeadLetter": {
        "description": "A failed run as `wflo runs --failed --json` shows it",
        "properties": {
          "created_at": {
            "format": "date-time",
            "type": "string"
          },
          "failed_at": {
            "format": "date-time",
            "type": "string"
          },
          "failed_step": {
            "description": "The step that failed first; null when the run failed before any step did",
            "type": [
              "string",
              "null"
            ]
          },
          "reason": {
            "description": "The step's error, else the run's",
            "type": [
              "string",
              "null"
            ]
          },
          "run_id": {
            "type": "string"
          },
          "status": {
            "type": "string"
          },
          "tags": {
            "additionalProperties": {
              "type": "string"
            },
            "type": "object"
          },
          "workflow": {
            "type": "string"
          }
        },
        "required": [
          "run_id",
          "workflow",
          "status",
          "failed_step",
          "reason",
          "created_at",
          "failed_at",
          "tags"
        ],
        "type": "object"
      },
      "Error": {
        "properties": {
          "error": {
            "properties": {
              "code": {
                "type": "string"
              },
              "message": {
                "type": "string"
              }
            },
            "required": [
              "code",
              "message"
            ],
            "type": "object"
          }
        },
        "required": [
          "error"
        ],
        "type": "object"
      },
      "Money": {
        "description": "USD as an exact decimal string",
        "pattern": "^-?[0-9]+(\\.[0-9]+)?$",
        "type": "string"
      },
      "RetryStarted": {
        "properties": {
          "retrying_steps": {
            "description": "The steps that run again (completed ones are replayed, never run or charged again)",
            "items": {
              "type": "string"
            },
            "type": "array"
          },
          "run_id": {
            "type": "string"
          },
          "status": {
            "type": "string"
          },
          "unbounded": {
            "description": "Some paid step's worst case is not in worst_case_usd (a for_each over run-time items)",
            "type": "boolean"
          },
          "worst_case_usd": {
            "$ref": "#/components/schemas/Money"
          }
        },
        "required": [
          "run_id",
          "status",
          "retrying_steps",
          "worst_case_usd",
          "unbounded"
        ],
        "type": "object"
      },
      "Run": {
        "properties": {
          "budget_usd": {
            "anyOf": [
              {
                "$ref": "#/components/schemas/Money"
              },
              {
                "type": "null"
              }
            ]
          },
          "created_at": {
            "format": "date-time",
            "type": "string"
          },
          "error": {
            "type": [
              "string",
              "null"
            ]
          },
          "outputs": {},
          "queue": {
            "type": [
              "string",
              "null"
            ]
          },
          "reserved_usd": {
            "$ref": "#/components/schemas/Money"
          },
          "run_id": {
            "type": "string"
          },
          "trigger": {
            "description": "What started the run, when not a person: {kind: schedule, at, schedule} or {kind: webhook, at, name, delivery}",
            "type": [
              "object",
              "null"
            ]
          },
          "concurrency": {
            "description": "The workflow's concurrency key as this run holds it: {key, limit, on_conflict}",
            "type": [
              "object",
              "null"
            ]
          },
          "spent_usd": {
            "$ref": "#/components/schemas/Money"
          },
          "status": {
            "description": "As shown to people: interrupted, queued, waiting_approval, \u2026 ",
            "type": "string"
          },
          "tags": {
            "additionalProperties": {
              "type": "string"
            },
            "type": "object"
          },
          "updated_at": {
            "format": "date-time",
            "type": "string"
          },
          "workflow": {
            "type": "string"
          }
        },
        "required": [
          "run_id",
          "workflow",
          "status",
          "budget_usd",
          "spent_usd",
          "reserved_usd",
          "created_at",
          "updated_at",
          "tags",
          "error",
          "queue",
          "outputs"
        ],
        "type": "object"
      },
      "RunPage": {
        "properties": {
          "next_cursor": {
            "type": [
              "string",
              "null"
            ]
          },
          "runs": {
            "items": {
              "$ref": "#/components/schemas/Run"
            },
            "type": "array"
          }
        },
        "required": [
          "runs",
          "next_cursor"
        ],
        "type": "object"
      },
      "SubmitRun": {
        "properties": {
          "budget_usd": {
            "$ref": "#/components/schemas/Money"
          },
          "idempotency_key": {
            "maxLength": 200,
            "minLength": 1,
            "type": "string"
          },
          "inputs": {
            "type": "object"
          },
          "path": {
            "description": "A workflow file on the server, inside its workflows folder (wflo server --workflows-dir; default the directory it started in); a relative path is taken from that folder. Symlinks and .. are resolved before the check; a path outside it is 403",
            "type": "string"
          },
          "tags": {
            "additionalProperties": {
              "type": "string"
            },
            "type": "object"
          },
          "workflow": {
            "description": "The workflow's YAML text",
            "type": "string"
          }
        },
        "type": "object"
      },
      "Submitted": {
        "properties": {
          "existing": {
            "type": "boolean"
          },
          "run_id": {
            "type": "string"
          },
          "status": {
            "type": "string"
          }
        },
        "required": [
          "run_id",
          "status"
        ],
        "type": "object"
      }
    },
    "securitySchemes": {
      "bearer": {
        "scheme": "bearer",
        "type": "http"
      }
    }
  },
  "info": {
    "description": "The JSON API of `wflo server`. Every call but /healthz and /openapi.json carries Authorization: Bearer TOKEN (`wflo tokens create NAME --role read|submit|approve|admin`). Errors are {\"error\": {\"code\", \"message\"}}.",
    "title": "wflo server",
    "version": "1"
  },
  "openapi": "3.1.0",
  "paths": {
    "/approvals/{id}/decide": {
      "get": {
        "operationId": "linkPreview",
        "parameters": [
          {
            "description": "The approval request's id",
            "in": "path",
            "name": "id",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "in": "query",
            "name": "decision",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "in": "query",
            "name": "expires",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "in": "query",
            "name": "sig",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "responses": {
          "200": {
            "content": {
              "text/html": {
                "schema": {
                  "type": "string"
                }
              }
            },
            "description": "The request and the form"
          },
          "403": {
            "content": {
              "text/html": {
                "schema": {
                  "type": "string"
                }
              }
            },
            "description": "The link is altered, expired or not a decision"
          }
        },
        "security": [],
        "summary": "A signed link from an approval notification: shows what it decides and a button that posts it (a GET decides nothing)"
      },
      "post": {
        "operationId": "linkDecide",
        "parameters": [
          {
            "description": "The approval request's id",
            "in": "path",
            "name": "id",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "requestBody": {
          "content": {
            "application/x-www-form-urlencoded": {
              "schema": {
                "properties": {
                  "comment": {
                    "type": "string"
                  },
                  "decision": {
                    "enum": [
                      "approve",
                      "reject"
                    ],
                    "type": "string"
                  },
                  "expires": {
                    "type": "string"
                  },
                  "sig": {
                    "type": "string"
                  }
                },
                "type": "object"
              }
            }
          },
          "required": true
        },
        "responses": {
          "200": {
            "content": {
              "text/html": {
                "schema": {
                  "type": "string"
                }
              }
            },
            "description": "Decided"
          },
          "403": {
            "content": {
              "text/html": {
                "schema": {
                  "type": "string"
                }
              }
            },
            "description": "The link is altered or expired, or the request names its approvers"
          },
          "409": {
            "content": {
              "text/html": {
                "schema": {
                  "type": "string"
                }
              }
            },
            "description": "Already decided: the page names who and when"
          }
        },
        "security": [],
        "summary": "Decides through a signed link (form fields decision, expires, sig, comment); the dashboard's own form posts here too, with its session and CSRF token"
      }
    },
    "/healthz": {
      "get": {
        "operationId": "health",
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "properties": {
                    "status": {
                      "const": "ok",
                      "type": "string"
                    }
                  },
                  "required": [
                    "status"
                  ],
                  "type": "object"
                }
              }
            },
            "description": "Alive"
          }
        },
        "security": [],
        "summary": "Liveness"
      }
    },
    "/hooks/{name}": {
      "post": {
        "operationId": "deliverWebhook",
        "parameters": [
          {
            "description": "The webhook trigger's name (its workflow must be deployed)",
            "in": "path",
            "name": "name",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "sha256=<hex HMAC-SHA256 of the raw body with the trigger's secret>; required when the trigger has a secret",
            "in": "header",
            "name": "X-Wflo-Signature",
            "required": false,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "The delivery's id: the same id returns the same run",
            "in": "header",
            "name": "X-Wflo-Delivery",
            "required": false,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "Used as the delivery's id when X-Wflo-Delivery is absent",
            "in": "header",
            "name": "Idempotency-Key",
            "required": false,
            "schema": {
              "type": "string"
            }
          }
        ],
        "requestBody": {
          "content": {
            "application/json": {
              "schema": {
                "type": "object"
              }
            }
          },
          "required": true
        },
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "properties": {
                    "run_id": {
                      "type": "string"
                    }
                  },
                  "required": [
                    "run_id"
                  ],
                  "type": "object"
                }
              }
            },
            "description": "The same delivery id was seen before: its run"
          },
          "202": {
            "content": {
              "application/json": {
                "schema": {
                  "properties": {
                    "run_id": {
                      "type": "string"
                    }
                  },
                  "required": [
                    "run_id"
                  ],
                  "type": "object"
                }
              }
            },
            "description": "A run was enqueued"
          },
          "400": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "The body is not JSON, or an input the trigger needs is missing"
          },
          "401": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "The signature is missing or does not match (only a counter is journaled)"
          },
          "404": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "No deployed workflow has a webhook trigger of this name"
          }
        },
        "security": [],
        "summary": "A webhook trigger's delivery: enqueues a run of the deployed workflow (no token; the trigger's secret signs the body)"
      }
    },
    "/metrics": {
      "get": {
        "operationId": "metrics",
        "responses": {
          "200": {
            "content": {
              "text/plain": {
                "schema": {
                  "type": "string"
                }
              }
            },
            "description": "Prometheus exposition 0.0.4"
          },
          "401": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "Missing, unknown or revoked token"
          },
          "403": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "The token's role is too low"
          }
        },
        "summary": "Prometheus text of what the journal knows (role read)"
      }
    },
    "/openapi.json": {
      "get": {
        "operationId": "openapi",
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "type": "object"
                }
              }
            },
            "description": "The OpenAPI 3.1 document"
          }
        },
        "security": [],
        "summary": "This document"
      }
    },
    "/v1/approvals": {
      "get": {
        "operationId": "listApprovals",
        "parameters": [
          {
            "in": "query",
            "name": "status",
            "schema": {
              "default": "pending",
              "enum": [
                "pending",
                "approved",
                "rejected",
                "expired",
                "all"
              ],
              "type": "string"
            }
          },
          {
            "description": "Only this run's (id or prefix)",
            "in": "query",
            "name": "run",
            "schema": {
              "type": "string"
            }
          }
        ],
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "properties": {
                    "approvals": {
                      "items": {
                        "$ref": "#/components/schemas/Approval"
                      },
                      "type": "array"
                    }
                  },
                  "required": [
                    "approvals"
                  ],
                  "type": "object"
                }
              }
            },
            "description": "The requests"
          },
          "401": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "Missing, unknown or revoked token"
          },
          "403": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "The token's role is too low"
          },
          "404": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "No such run"
          },
          "422": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "A bad status"
          }
        },
        "summary": "Approval requests, oldest first (role read)"
      }
    },
    "/v1/approvals/{id}/decision": {
      "post": {
        "operationId": "decideApproval",
        "parameters": [
          {
            "description": "The request's id, a unique prefix, or RUN/STEP",
            "in": "path",
            "name": "id",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "requestBody": {
          "content": {
            "application/json": {
              "schema": {
                "properties": {
                  "comment": {
                    "type": "string"
                  },
                  "decision": {
                    "enum": [
                      "approve",
                      "reject"
                    ],
                    "type": "string"
                  }
                },
                "required": [
                  "decision"
                ],
                "type": "object"
              }
            }
          },
          "required": true
        },
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "properties": {
                    "approval": {
                      "$ref": "#/components/schemas/Approval"
                    }
                  },
                  "required": [
                    "approval"
                  ],
                  "type": "object"
                }
              }
            },
            "description": "Recorded"
          },
          "400": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "The body is not a JSON object"
          },
          "401": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "Missing, unknown or revoked token"
          },
          "403": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "The token's role is too low"
          },
          "404": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "No such request"
          },
          "409": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Conflict"
                }
              }
            },
            "description": "Already decided: the error names the first decision"
          },
          "422": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "A bad decision"
          }
        },
        "summary": "Approve or reject (role approve); the token's name is recorded as the approver, via api"
      }
    },
    "/v1/dead-letters": {
      "get": {
        "operationId": "listDeadLetters",
        "parameters": [
          {
            "description": "Only runs started since then: 30m, 12h, 7d, 2w, or a date",
            "in": "query",
            "name": "since",
            "required": false,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "Only runs of this workflow",
            "in": "query",
            "name": "workflow",
            "required": false,
            "schema": {
              "type": "string"
            }
          },
          {
            "in": "query",
            "name": "limit",
            "required": false,
            "schema": {
              "maximum": 200,
              "minimum": 1,
              "type": "integer"
            }
          }
        ],
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "properties": {
                    "dead_letters": {
                      "items": {
                        "$ref": "#/components/schemas/DeadLetter"
                      },
                      "type": "array"
                    }
                  },
                  "required": [
                    "dead_letters"
                  ],
                  "type": "object"
                }
              }
            },
            "description": "Failed runs, newest first, each with the step that failed first and why"
          },
          "401": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "Missing, unknown or revoked token"
          },
          "422": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "A bad since or limit"
          }
        },
        "summary": "Dead letters: failed runs with their failing step and reason, as wflo runs --failed (role read)"
      }
    },
    "/v1/events": {
      "get": {
        "description": "`event: run` carries a Run, `event: approval` an Approval (new requests, and decided ones once). Lines starting with ':' are keep-alives. The stream ends on shutdown, or after `timeout` seconds when given.",
        "operationId": "events",
        "parameters": [
          {
            "description": "End the stream after this many seconds",
            "in": "query",
            "name": "timeout",
            "schema": {
              "exclusiveMinimum": 0,
              "maximum": 86400,
              "type": "number"
            }
          }
        ],
        "responses": {
          "200": {
            "content": {
              "text/event-stream": {
                "schema": {
                  "type": "string"
                }
              }
            },
            "description": "The stream"
          },
          "401": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "Missing, unknown or revoked token"
          },
          "403": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "The token's role is too low"
          },
          "422": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "A bad timeout"
          }
        },
        "summary": "Server-Sent Events of runs and approval requests as they change (role read)"
      }
    },
    "/v1/runs": {
      "get": {
        "operationId": "listRuns",
        "parameters": [
          {
            "in": "query",
            "name": "status",
            "schema": {
              "enum": [
                "queued",
                "running",
                "completed",
                "failed",
                "budget_exceeded",
                "waiting_approval",
                "rejected",
                "cancelled"
              ],
              "type": "string"
            }
          },
          {
            "in": "query",
            "name": "workflow",
            "schema": {
              "type": "string"
            }
          },
          {
            "in": "query",
            "name": "limit",
            "schema": {
              "default": 50,
              "maximum": 200,
              "minimum": 1,
              "type": "integer"
            }
          },
          {
            "description": "next_cursor of the page before",
            "in": "query",
            "name": "cursor",
            "schema": {
              "type": "string"
            }
          }
        ],
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/RunPage"
                }
              }
            },
            "description": "A page"
          },
          "401": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "Missing, unknown or revoked token"
          },
          "403": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "The token's role is too low"
          },
          "422": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "A bad status, limit or cursor"
          }
        },
        "summary": "Runs, newest first, paged (role read)"
      },
      "post": {
        "operationId": "submitRun",
        "parameters": [
          {
            "description": "A caller's W3C trace context: the run's trace hangs under it (422 when malformed)",
            "in": "header",
            "name": "traceparent",
            "required": false,
            "schema": {
              "type": "string"
            }
          }
        ],
        "requestBody": {
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/SubmitRun"
              }
            }
          },
          "required": true
        },
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Submitted"
                }
              }
            },
            "description": "Already queued with this idempotency_key"
          },
          "201": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Submitted"
                }
              }
            },
            "description": "Queued"
          },
          "400": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "The body is not a JSON object"
          },
          "401": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "Missing, unknown or revoked token"
          },
          "403": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "The token's role is too low, or the path is outside the server's workflows folder (the message names both)"
          },
          "422": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "Invalid workflow (file:line:col diagnostics), inputs, budget or tags"
          }
        },
        "summary": "Submit a run to the server's queue (role submit)"
      }
    },
    "/v1/runs/{id}": {
      "get": {
        "operationId": "getRun",
        "parameters": [
          {
            "description": "A run id or a unique prefix of it",
            "in": "path",
            "name": "id",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "The ETag of an earlier answer: 304 without a body while the run's JSON is the same",
            "in": "header",
            "name": "If-None-Match",
            "required": false,
            "schema": {
              "type": "string"
            }
          }
        ],
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Run"
                }
              }
            },
            "description": "The run",
            "headers": {
              "ETag": {
                "description": "A tag of this answer, for If-None-Match",
                "schema": {
                  "type": "string"
                }
              }
            }
          },
          "304": {
            "description": "Not Modified: If-None-Match named the run's current ETag",
            "headers": {
              "ETag": {
                "description": "The run's current tag",
                "schema": {
                  "type": "string"
                }
              }
            }
          },
          "401": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "Missing, unknown or revoked token"
          },
          "403": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "The token's role is too low"
          },
          "404": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "No such run"
          },
          "422": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "The prefix matches several runs"
          }
        },
        "summary": "One run (role read)"
      }
    },
    "/v1/runs/{id}/cancel": {
      "post": {
        "operationId": "cancelRun",
        "parameters": [
          {
            "description": "A run id or a unique prefix of it",
            "in": "path",
            "name": "id",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "requestBody": {
          "content": {
            "application/json": {
              "schema": {
                "properties": {
                  "reason": {
                    "type": "string"
                  }
                },
                "type": "object"
              }
            }
          },
          "required": false
        },
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Run"
                }
              }
            },
            "description": "The run after the cancel"
          },
          "401": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "Missing, unknown or revoked token"
          },
          "403": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "The token's role is too low"
          },
          "404": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "No such run"
          },
          "409": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "The driving process did not stop in time"
          },
          "422": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "The run has already ended"
          }
        },
        "summary": "Cancel a run (role submit)"
      }
    },
    "/v1/runs/{id}/report": {
      "get": {
        "operationId": "runReport",
        "parameters": [
          {
            "description": "A run id or a unique prefix of it",
            "in": "path",
            "name": "id",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "type": "object"
                }
              }
            },
            "description": "The report"
          },
          "401": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "Missing, unknown or revoked token"
          },
          "403": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "The token's role is too low"
          },
          "404": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "No such run"
          }
        },
        "summary": "The run's report: the JSON of `wflo report RUN --format json` (role read)"
      }
    },
    "/v1/runs/{id}/resume": {
      "post": {
        "operationId": "resumeRun",
        "parameters": [
          {
            "description": "A run id or a unique prefix of it",
            "in": "path",
            "name": "id",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "requestBody": {
          "content": {
            "application/json": {
              "schema": {
                "properties": {
                  "budget_usd": {
                    "$ref": "#/components/schemas/Money"
                  }
                },
                "type": "object"
              }
            }
          },
          "required": false
        },
        "responses": {
          "202": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Submitted"
                }
              }
            },
            "description": "Being driven"
          },
          "401": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "Missing, unknown or revoked token"
          },
          "403": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "The token's role is too low"
          },
          "404": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "No such run"
          },
          "409": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "Completed, or a live process drives it"
          },
          "422": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "A bad budget"
          }
        },
        "summary": "Continue a run from its journal here (role submit)"
      }
    },
    "/v1/runs/{id}/retry": {
      "post": {
        "operationId": "retryRun",
        "parameters": [
          {
            "description": "A run id or a unique prefix of it",
            "in": "path",
            "name": "id",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "requestBody": {
          "content": {
            "application/json": {
              "schema": {
                "properties": {
                  "budget_usd": {
                    "$ref": "#/components/schemas/Money"
                  }
                },
                "type": "object"
              }
            }
          },
          "required": false
        },
        "responses": {
          "202": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/RetryStarted"
                }
              }
            },
            "description": "Being retried: the steps that run again and their worst case"
          },
          "400": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "The body is not a JSON object"
          },
          "401": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "Missing, unknown or revoked token"
          },
          "403": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "The token's role is too low"
          },
          "404": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "No such run"
          },
          "409": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "A live process drives it"
          },
          "422": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "The run did not fail (retry continues failed runs only), or a bad budget"
          }
        },
        "summary": "Continue a failed run from its failed steps here, as wflo retry RUN (role submit)"
      }
    }
  },
  "security": [
    {
      "bearer": []
    }
  ]
}
"""#
}

"""The served API's access log: a line for every request except an accepted push."""

from __future__ import annotations

import logging

from footfall.api.app import skip_accepted_pushes

LINE = '%s - "%s %s HTTP/%s" %d'


def test_accepted_pushes_leave_no_line_and_everything_else_does(caplog):
    access = logging.getLogger("test.footfall.access")
    skip_accepted_pushes(access)
    skip_accepted_pushes(access)  # twice (a second app in the process): still one check, same lines
    with caplog.at_level(logging.INFO, logger=access.name):
        access.info(LINE, "10.0.0.1:5000", "POST", "/v1/sites/lib-a/batches", "1.1", 200)
        access.info(LINE, "10.0.0.1:5000", "POST", "/v1/push/xovis_count_push/lib-a", "1.1", 200)
        access.info(LINE, "10.0.0.1:5000", "POST", "/v1/sites/lib-a/batches", "1.1", 401)
        access.info(LINE, "10.0.0.1:5000", "GET", "/v1/sites/lib-a/token", "1.1", 200)
        access.info(LINE, "10.0.0.1:5000", "GET", "/v1/public/sites", "1.1", 200)
        access.info("a message of another shape")
    assert [r.getMessage() for r in caplog.records] == [
        '10.0.0.1:5000 - "POST /v1/sites/lib-a/batches HTTP/1.1" 401',
        '10.0.0.1:5000 - "GET /v1/sites/lib-a/token HTTP/1.1" 200',
        '10.0.0.1:5000 - "GET /v1/public/sites HTTP/1.1" 200',
        "a message of another shape",
    ]

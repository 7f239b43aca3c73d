"""Secrets are masked in every log record of the process, tracebacks included."""

from __future__ import annotations

import io
import logging

from driftline.redact import Secret, mask_url, redact_logs, scrub


def test_log_records_of_any_library_and_level_are_masked():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    logger = logging.getLogger("some.library.test_redact")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        redact_logs(["pa ss@w0rd-tr"])
        logger.debug("config %r", {"sasl_plain_password": "pa ss@w0rd-tr"})
        logger.info("url postgresql://u:pa%20ss%40w0rd-tr@h/db")
        try:
            raise RuntimeError("login with pa ss@w0rd-tr refused")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "w0rd-tr" not in text and text.count("***") == 4, text
    assert "RuntimeError" in text  # the traceback is kept, masked
    assert scrub("the password was pa ss@w0rd-tr") == "the password was ***"


def test_secret_and_url_masks():
    assert repr(Secret("x")) == "Secret('***')" and f"{Secret('x')}" == "***"
    assert Secret("x") == Secret("x") and Secret("x") != Secret("y")
    assert mask_url("postgresql://u:p@h:5432/db?sslpassword=z&token=t") == \
        "postgresql://u:***@h:5432/db?sslpassword=***&token=***"
    assert mask_url("postgresql://u@h/db") == "postgresql://u@h/db"

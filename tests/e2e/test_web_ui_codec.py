"""The dev Web UI in headless Chromium shows a payload decoded through the authenticated codec server,
while the server itself holds only ciphertext."""

from __future__ import annotations

import logging
import os
import uuid

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.testing import WorkflowEnvironment

from mlwright.client import client_options
from mlwright.codec_server import ui_endpoint
from mlwright.settings import Settings
from tests.codec_helpers import codec_server
from tests.conftest import DEV_SERVER_ARGS
from tests.helpers import free_port, venv_bin

CHROMIUM = "/usr/bin/chromium"
pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK),
                                 reason=f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")]


async def test_web_ui_shows_a_payload_decoded_by_the_codec_server(tmp_path, caplog):
    from playwright.async_api import async_playwright

    ui_port = free_port()
    settings = Settings(environment="test", home=tmp_path, codec_port=free_port(),
                        codec_allowed_origin=f"http://127.0.0.1:{ui_port}")
    marker = f"decoded-{uuid.uuid4().hex[:12]}"
    with codec_server(settings), caplog.at_level(logging.INFO, logger="mlwright.codec_server"):
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=venv_bin("temporal"), ui=True, ui_port=ui_port, **client_options(settings),
            dev_server_extra_args=[*DEV_SERVER_ARGS, "--ui-codec-endpoint", ui_endpoint(settings)])
        try:
            handle = await env.client.start_workflow("UiCanary", {"marker": marker}, id=f"ui-{uuid.uuid4()}",
                                                     task_queue="ui-nobody")
            started = [e async for e in handle.fetch_history_events()][0]
            stored: Payload = started.workflow_execution_started_event_attributes.input.payloads[0]
            assert stored.metadata["encoding"] == b"binary/encrypted" and marker.encode() not in stored.data

            url = f"http://127.0.0.1:{ui_port}/namespaces/default/workflows/{handle.id}/{handle.result_run_id}/history"
            async with async_playwright() as p:
                browser = await p.chromium.launch(
                    executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
                try:
                    page = await browser.new_page()
                    await page.goto(url)
                    await page.get_by_text(marker).first.wait_for(timeout=30_000)
                finally:
                    await browser.close()
            assert "POST /ui/<token>/decode 200" in caplog.text  # the browser asked the codec server
        finally:
            await env.shutdown()

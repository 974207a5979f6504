"""utils.core.crypto and utils.data.privacy: keys, keyed pseudonyms, k-anonymity and encryption at rest."""

import os
import stat

import pandas as pd
import pytest

from utils.core import config, crypto
from utils.data import privacy

KEY = bytes(range(32))


@pytest.fixture
def keys(tmp_path, monkeypatch):
    monkeypatch.setenv("BEAUTY_KEY_DIR", str(tmp_path / "keys"))
    for name in ("BEAUTY_PSEUDONYM_KEY", "BEAUTY_ENCRYPTION_KEY"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "keys"


def test_a_key_file_is_made_once_for_its_owner_only(keys):
    key = crypto.secret_key("pseudonym")
    path = keys / "pseudonym.key"
    assert len(key) == 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    assert crypto.secret_key("pseudonym") == key  # read back, not made again
    assert crypto.secret_key("encryption") != key  # one key per use


def test_a_key_file_others_can_read_is_refused(keys):
    crypto.secret_key("pseudonym")
    os.chmod(keys / "pseudonym.key", 0o644)
    with pytest.raises(PermissionError, match=r"can be read by other users \(mode 644\).*chmod 600"):
        crypto.secret_key("pseudonym")


def test_the_environment_key_wins_and_is_checked(keys, monkeypatch):
    monkeypatch.setenv("BEAUTY_PSEUDONYM_KEY", KEY.hex())
    assert crypto.secret_key("pseudonym") == KEY and not keys.exists()
    monkeypatch.setenv("BEAUTY_PSEUDONYM_KEY", "not hex")
    with pytest.raises(ValueError, match=r"\$BEAUTY_PSEUDONYM_KEY must be 64 hex digits"):
        crypto.secret_key("pseudonym")


def test_no_key_folder_inside_the_repository(monkeypatch):
    monkeypatch.delenv("BEAUTY_PSEUDONYM_KEY", raising=False)
    monkeypatch.setenv("BEAUTY_KEY_DIR", str(config.PROJECT_ROOT / "keys"))
    with pytest.raises(ValueError, match="inside the repository"):
        crypto.secret_key("pseudonym")


def test_pseudonyms_are_stable_keyed_and_keep_missing_ids():
    ids = pd.Series(["42", "7", "42", None], name="user_id", dtype="string")
    once = privacy.pseudonymise(ids, KEY, "u_")
    again = privacy.pseudonymise(ids.astype("category"), KEY, "u_")
    assert once.iloc[0] == once.iloc[2] != once.iloc[1] and pd.isna(once.iloc[3])
    assert once.iloc[:3].tolist() == again.iloc[:3].tolist() and isinstance(again.dtype, pd.CategoricalDtype)
    assert once.str.len().iloc[0] == 2 + privacy.PSEUDONYM_DIGITS and once.name == "user_id"
    other = privacy.pseudonymise(ids, bytes(32), "u_")
    assert not set(once.dropna()) & set(other.dropna())  # another key, other pseudonyms
    assert "42" not in "".join(once.dropna())


def test_integer_ids_get_integer_pseudonyms_that_join_across_tables():
    events = pd.DataFrame({"user_id": [400000003, 400000018, 400000003], "user_session": ["a", "b", "a"],
                           "price": [1.0, 2.0, 3.0]})
    users = pd.DataFrame({"user_id": [400000018, 400000003], "age": [30, 40]})
    out = privacy.pseudonymise_tables({"events": events, "users": users}, KEY)
    assert out["events"]["user_id"].dtype == "int64" and (out["events"]["user_id"] >= 0).all()
    assert not set(out["events"]["user_id"]) & set(events["user_id"])
    joined = out["events"].merge(out["users"], on="user_id")  # the same id, the same pseudonym
    assert joined["age"].tolist() == [40, 30, 40] and joined["price"].tolist() == [1.0, 2.0, 3.0]
    assert out["events"]["user_session"].iloc[0] == out["events"]["user_session"].iloc[2] != "a"
    assert events["user_id"].iloc[0] == 400000003  # the input is left as it was
    assert out["events"]["user_session"].dtype == events["user_session"].dtype  # text stays its type
    with_missing = privacy.pseudonymise(pd.Series([5, None], dtype="Int64"), KEY)
    assert with_missing.dtype == "Int64" and pd.isna(with_missing.iloc[1])


def test_k_anonymity_and_l_diversity_count_the_smallest_group():
    users = pd.DataFrame({"age_band": ["18-24", "18-24", "25-34", "25-34", "25-34"],
                          "region": ["North", "North", "South", "South", None],
                          "skin": ["dry", "oily", "dry", "dry", "oily"]})
    assert privacy.k_anonymity(users, ["age_band", "region"]) == 1  # the one with no region
    assert privacy.k_anonymity(users, ["age_band"]) == 2
    assert privacy.l_diversity(users, ["age_band"], "skin") == 2
    assert privacy.l_diversity(users, ["age_band", "region"], "skin") == 1
    assert privacy.k_anonymity(users.iloc[:0], ["age_band"]) == 0


def test_generalise_coarsens_step_by_step_then_suppresses_and_reports():
    users = pd.DataFrame({"user_id": range(8), "age": [21, 23, 25, 27, 31, 33, 35, 64],
                          "region": ["north", "north", "south", "east", "north", "north", "south", "east"]})
    steps = [("age", lambda a: (a // 10 * 10).astype(str) + "s"),
             ("region", lambda r: r.map({"north": "N", "south": "S", "east": "S"}))]
    out, report = privacy.generalise(users, ["age", "region"], 2, steps)
    assert report["k_before"] == 1 and report["k_after"] >= 2 == privacy.k_anonymity(out, ["age", "region"])
    assert report["steps_applied"] == ["age", "region"]
    # 30s/S and 60s/S are alone after both steps: suppressed, and said so; nothing else is lost
    assert report["suppressed_rows"] == 2 and out["user_id"].tolist() == [0, 1, 2, 3, 4, 5]
    assert report["distinct_values"]["region"] == {"before": 3, "after": 2}
    assert users["age"].tolist()[0] == 21  # the input is left as it was
    # already k-anonymous: no step, no suppression
    same, report = privacy.generalise(users, ["region"], 1, steps)
    assert report["steps_applied"] == [] and report["suppressed_rows"] == 0 and same.equals(users)
    with pytest.raises(KeyError, match=r"\['gender'\] are not in the table"):
        privacy.generalise(users, ["gender"], 2, steps)


def test_an_encrypted_file_reads_back_and_hides_its_content(tmp_path):
    plain = tmp_path / "events.parquet"
    pd.DataFrame({"user_id": [1, 2], "price": [9.5, 3.0]}).to_parquet(plain)
    content = plain.read_bytes()
    sealed = crypto.encrypt_file(plain, KEY, remove_plain=True)
    assert sealed.name == "events.parquet.enc" and not plain.exists()
    assert content not in sealed.read_bytes() and b"user_id" not in sealed.read_bytes()
    assert crypto.read_bytes(sealed, KEY) == content
    other = tmp_path / "plain.csv"
    other.write_text("a,b\n1,2\n")
    assert crypto.read_bytes(other, KEY) == b"a,b\n1,2\n"  # a plain file passes through


DAMAGE = ["flip a byte", "cut the end", "cut to the header", "wrong key", "no header"]


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_or_wrongly_keyed_file_is_a_clear_error(tmp_path, damage):
    plain = tmp_path / "users.parquet"
    plain.write_bytes(b"shopper table " * 100)
    sealed = crypto.encrypt_file(plain, KEY)
    data, key = bytearray(sealed.read_bytes()), KEY
    if damage == "flip a byte":
        data[len(data) // 2] ^= 1
    elif damage == "cut the end":
        data = data[:-5]
    elif damage == "cut to the header":
        data = data[:len(crypto.MAGIC) + 4]
    elif damage == "wrong key":
        key = bytes(32)
    else:
        data = data[len(crypto.MAGIC):]
    sealed.write_bytes(bytes(data))
    expected = {"cut to the header": "is cut short", "no header": "does not start like an encrypted file"}
    message = expected.get(damage, "cannot be decrypted")
    with pytest.raises(crypto.DecryptionError, match=rf"users\.parquet\.enc.*{message}"):
        crypto.read_bytes(sealed, key)

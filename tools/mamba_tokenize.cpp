// mamba-tokenize: text -> ids, or ids -> text, with a model's tokenizer.
//   mamba-tokenize -m DIR [-p TEXT | -f FILE]     prints the ids on one line, comma-separated
//                                                 (stdin if neither; no BOS/EOS added)
//   mamba-tokenize -m DIR --decode [1,2,3]        prints the text exactly, no newline added
//                                                 (ids from stdin if not given; commas,
//                                                 whitespace or a JSON list)
// --tokenizer PATH instead of -m DIR names a tokenizer directory or file directly.
#include <chrono>
#include <cstdio>

#include "examples/cli.h"

namespace {

// Ids to decode may come as printed by encode ("1,2,3"), one per line, space-separated or as a
// JSON list: runs of commas, whitespace and brackets all separate ids.
std::string normalize_id_list(const std::string& s) {
  std::string out;
  bool sep = false;
  for (const char c : s) {
    if (c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '[' || c == ']') {
      sep = true;
      continue;
    }
    if (sep && !out.empty()) out += ',';
    sep = false;
    out += c;
  }
  return out;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  const char* prog = "mamba-tokenize";
  CLI::App app{"Encodes text to token ids, or decodes ids to text"};
  std::string model_dir, tokenizer_path, text, file, decode_ids;
  bool skip_special = false, clean_up = false, stats = false;
  auto* model_opt = app.add_option("-m,--model", model_dir, "model directory with the tokenizer");
  auto* tok_opt = app.add_option("--tokenizer", tokenizer_path, "tokenizer directory or file");
  auto* text_opt = app.add_option("-p,--prompt", text, "text to encode");
  auto* file_opt = app.add_option("-f,--file", file, "file to encode (\"-\": stdin)");
  auto* decode_opt = app.add_option("--decode", decode_ids,
                                    "decode these comma-separated ids (none given: read stdin)")
                         ->expected(0, 1);
  app.add_flag("--skip-special", skip_special, "decode: leave out special tokens");
  app.add_flag("--clean-up", clean_up, "decode: transformers' clean_up_tokenization_spaces");
  app.add_flag("--stats", stats, "print the speed to stderr");
  model_opt->excludes(tok_opt);
  text_opt->excludes(file_opt);
  decode_opt->excludes(text_opt)->excludes(file_opt);
  if (const int rc = mamba::cli::parse(app, argc, argv, prog); rc >= 0) return rc;

  if (!*model_opt && !*tok_opt) return mamba::cli::error(prog, "give -m/--model DIR or --tokenizer PATH");
  auto tok = mamba::Tokenizer::load(*model_opt ? model_dir : tokenizer_path);
  if (!tok.ok()) return mamba::cli::error(prog, tok.message());
  if (*decode_opt) {
    std::string list = decode_ids;
    if (list.empty()) {
      auto in = mamba::cli::read_input("-");
      if (!in.ok()) return mamba::cli::error(prog, in.message());
      list = in.value();
    }
    list = normalize_id_list(list);
    std::vector<int32_t> ids;
    if (!list.empty()) {  // nothing to decode is the empty text
      auto parsed = mamba::cli::parse_ids(list);
      if (!parsed.ok()) return mamba::cli::error(prog, "--decode" + parsed.message().substr(5));
      ids = std::move(parsed.value());
    }
    mamba::DecodeOptions o;
    o.skip_special_tokens = skip_special;
    o.clean_up_tokenization_spaces = clean_up;
    const auto t0 = std::chrono::steady_clock::now();
    auto out = (*tok)->decode(ids, o);
    if (!out.ok()) return mamba::cli::error(prog, out.message());
    const double s = seconds_since(t0);
    std::fwrite(out->data(), 1, out->size(), stdout);
    if (stats)
      std::fprintf(stderr, "decode: %zu ids -> %zu bytes in %.3f s (%.1f MB/s)\n", ids.size(),
                   out->size(), s, double(out->size()) / 1e6 / s);
    return std::fflush(stdout) == 0 ? 0 : mamba::cli::error(prog, "cannot write the output");
  }

  if (!*text_opt) {
    auto in = mamba::cli::read_input(*file_opt ? file : "-");
    if (!in.ok()) return mamba::cli::error(prog, in.message());
    text = std::move(in.value());
  }
  if (const size_t bad = mamba::utf8_valid_prefix(text); bad != text.size())
    std::fprintf(stderr, "%s: warning: the input is not valid UTF-8 (first bad byte at offset %zu); "
                         "invalid bytes were replaced with U+FFFD\n", prog, bad);
  const auto t1 = std::chrono::steady_clock::now();
  auto ids = (*tok)->encode(text);
  if (!ids.ok()) return mamba::cli::error(prog, ids.message());
  const double s = seconds_since(t1);
  std::string line;
  line.reserve(ids->size() * 6 + 1);
  for (size_t i = 0; i < ids->size(); ++i) {
    if (i) line += ',';
    line += std::to_string((*ids)[i]);
  }
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stdout);
  if (stats)
    std::fprintf(stderr, "encode: %zu bytes -> %zu ids in %.3f s (%.1f MB/s, one thread)\n",
                 text.size(), ids->size(), s, double(text.size()) / 1e6 / s);
  return std::fflush(stdout) == 0 ? 0 : mamba::cli::error(prog, "cannot write the output");
}

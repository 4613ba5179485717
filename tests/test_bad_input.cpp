// Bad input of every kind -- broken safetensors files, wrong or missing tensors, invalid
// config.json values, broken shard indexes, missing directories, out-of-range token ids, bad
// command lines -- must fail with a message that names the file / tensor / field and the expected
// vs actual value, make the tools exit non-zero, and never crash.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "core/safetensors.h"
#include "mamba/mamba.h"
#include "tests/test_util.h"

namespace mamba::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
constexpr size_t npos = std::string::npos;

// EXPECT that `msg` contains every one of `parts`, printing the whole message on failure.
#define EXPECT_MSG_HAS(msg, ...)                                                       \
  do {                                                                                 \
    const std::string m_ = (msg);                                                      \
    for (const std::string& p_ : std::vector<std::string>{__VA_ARGS__})                \
      EXPECT_NE(m_.find(p_), npos) << "expected \"" << p_ << "\" in message:\n" << m_; \
  } while (0)

// ------------------------------------------------------------------------------------------------
// Files and directories.

std::string tiny() { return fixture_dir("mamba1-tiny"); }
std::string tiny_sharded() { return fixture_dir("mamba1-tiny-sharded"); }

// ------------------------------------------------------------------------------------------------
// Building safetensors files.

struct Tensor {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  std::string data;
};

// 8-byte little-endian header length, the JSON header, the data.
std::string raw_safetensors(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[size_t(i)] = char((n >> (8 * i)) & 0xff);
  return out + header + data;
}

// A valid file holding `tensors` back to back in the given order.
std::string build_safetensors(const std::vector<Tensor>& tensors) {
  json header = json::object();
  header["__metadata__"] = {{"format", "pt"}};
  std::string data;
  for (const Tensor& t : tensors) {
    const size_t begin = data.size();
    data += t.data;
    header[t.name] = {
        {"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {begin, data.size()}}};
  }
  return raw_safetensors(header.dump(), data);
}

// Every tensor of a file, read with the library's own (validated) reader.
std::vector<Tensor> read_tensors(const std::string& path) {
  detail::SafetensorsFile f(path);
  std::vector<Tensor> out;
  for (const auto& [name, t] : f.tensors())
    out.push_back({name, detail::dtype_name(t.dtype), t.shape,
                   std::string(reinterpret_cast<const char*>(t.data), t.bytes)});
  return out;
}

Tensor* find(std::vector<Tensor>& ts, const std::string& name) {
  for (Tensor& t : ts)
    if (t.name == name) return &t;
  ADD_FAILURE() << "fixture has no tensor " << name;
  return nullptr;
}

void drop(std::vector<Tensor>& ts, const std::string& name) {
  const size_t before = ts.size();
  ts.erase(std::remove_if(ts.begin(), ts.end(), [&](const Tensor& t) { return t.name == name; }),
           ts.end());
  ASSERT_EQ(ts.size() + 1, before) << name;
}

// A copy of mamba1-tiny in `dir`, its model.safetensors rebuilt from `tensors`.
void copy_config(const ScratchDir& dir) {
  fs::copy_file(tiny() + "/config.json", dir / "config.json", fs::copy_options::overwrite_existing);
}

void write_model(const ScratchDir& dir, const std::vector<Tensor>& tensors) {
  copy_config(dir);
  write_bytes(dir / "model.safetensors", build_safetensors(tensors));
}

// A copy of mamba1-tiny in `dir` with model.safetensors replaced by `bytes`.
void write_model_bytes(const ScratchDir& dir, const std::string& bytes) {
  copy_config(dir);
  write_bytes(dir / "model.safetensors", bytes);
}

// Model::load must fail; returns its message.
std::string load_error(const std::string& dir) {
  auto r = Model::load(dir);
  EXPECT_FALSE(r.ok()) << "loaded " << dir << " without error";
  EXPECT_FALSE(r.message().empty());
  return r.message();
}

// A single-tensor file whose header is `entry` for tensor "t", with `data_bytes` bytes of data.
std::string one_tensor_file(const json& entry, size_t data_bytes) {
  json header = {{"t", entry}};
  return raw_safetensors(header.dump(), std::string(data_bytes, '\0'));
}

// ------------------------------------------------------------------------------------------------
// Sanity: the helpers reproduce a loadable model.

TEST(BadInputHelpers, RebuiltFixtureLoads) {
  ScratchDir dir;
  write_model(dir, read_tensors(tiny() + "/model.safetensors"));
  auto r = Model::load(dir.path());
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r.value()->config().vocab_size, 512);
}

// ------------------------------------------------------------------------------------------------
// 1. Truncated files.

TEST(BadSafetensors, ShorterThanEightBytes) {
  ScratchDir dir;
  write_model_bytes(dir, std::string("\x10\x00\x00\x00\x00", 5));
  EXPECT_MSG_HAS(load_error(dir.path()), dir / "model.safetensors", "5 bytes", "8-byte");
}

TEST(BadSafetensors, EmptyFile) {
  ScratchDir dir;
  write_model_bytes(dir, "");
  EXPECT_MSG_HAS(load_error(dir.path()), dir / "model.safetensors", "0 bytes");
}

TEST(BadSafetensors, CutInTheMiddleOfTheData) {
  ScratchDir dir;
  const std::string full = read_bytes(tiny() + "/model.safetensors");
  const size_t cut = full.size() - 1000;
  write_model_bytes(dir, full.substr(0, cut));
  // The header is intact; the first tensor (in name order, as the loader checks them) whose end
  // lies past the shortened data section is the one the message must name.
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | uint8_t(full[size_t(i)]);
  const json header = json::parse(full.substr(8, n));
  const uint64_t data_size = cut - 8 - n;
  std::string victim;
  for (const auto& [name, e] : header.items())
    if (name != "__metadata__" && e["data_offsets"][1].get<uint64_t>() > data_size) {
      victim = name;
      break;
    }
  ASSERT_FALSE(victim.empty());
  const std::vector<uint64_t> off = header[victim]["data_offsets"].get<std::vector<uint64_t>>();
  EXPECT_MSG_HAS(load_error(dir.path()), dir / "model.safetensors", "'" + victim + "'",
                 "[" + std::to_string(off[0]) + ", " + std::to_string(off[1]) + "]",
                 "run past the data section", "(" + std::to_string(data_size) + " bytes)");
}

TEST(BadSafetensors, CutInsideTheHeader) {
  ScratchDir dir;
  const std::string full = read_bytes(tiny() + "/model.safetensors");
  write_model_bytes(dir, full.substr(0, 100));
  EXPECT_MSG_HAS(load_error(dir.path()), dir / "model.safetensors", "header length 2208",
                 "past the end of the file", "(100 bytes)");
}

// ------------------------------------------------------------------------------------------------
// 2. Header length.

TEST(BadSafetensors, HeaderLengthBeyondFileSize) {
  ScratchDir dir;
  std::string bytes = raw_safetensors("{}", std::string(90, '\0'));  // 100 bytes
  bytes[0] = char(0xe8);                                             // 1000
  bytes[1] = char(0x03);
  write_model_bytes(dir, bytes);
  EXPECT_MSG_HAS(load_error(dir.path()), dir / "model.safetensors", "header length 1000",
                 "past the end of the file", "(100 bytes)");
}

TEST(BadSafetensors, AbsurdHeaderLength) {
  ScratchDir dir;
  for (const uint64_t n : {uint64_t(1) << 63, ~uint64_t(0)}) {
    std::string bytes = raw_safetensors("{}", "");
    for (int i = 0; i < 8; ++i) bytes[size_t(i)] = char((n >> (8 * i)) & 0xff);
    write_model_bytes(dir, bytes);
    EXPECT_MSG_HAS(load_error(dir.path()), dir / "model.safetensors",
                   "header length " + std::to_string(n), "exceeds the limit");
  }
}

// ------------------------------------------------------------------------------------------------
// 3. Header not JSON / not an object.

TEST(BadSafetensors, HeaderNotJson) {
  ScratchDir dir;
  write_model_bytes(dir, raw_safetensors("{\"t\": {\"dtype\": \"F32\", ", "abcd"));
  EXPECT_MSG_HAS(load_error(dir.path()), dir / "model.safetensors", "header", "invalid JSON");
}

TEST(BadSafetensors, HeaderNotAnObject) {
  ScratchDir dir;
  write_model_bytes(dir, raw_safetensors("[1, 2, 3]", ""));
  EXPECT_MSG_HAS(load_error(dir.path()), dir / "model.safetensors", "not a JSON object");
}

TEST(BadSafetensors, TensorEntryNotAnObject) {
  ScratchDir dir;
  write_model_bytes(dir, raw_safetensors("{\"backbone.norm_f.weight\": 7}", ""));
  EXPECT_MSG_HAS(load_error(dir.path()), dir / "model.safetensors", "'backbone.norm_f.weight'",
                 "not an object");
}

TEST(BadSafetensors, DeeplyNestedHeaderDoesNotCrash) {
  // A short header (well under the size limit) nested deeper than any recursive printer could
  // follow; the message may describe it in any way but must not overflow the stack.
  ScratchDir dir;
  const int depth = 200000;
  const std::string nest = std::string(depth, '[') + std::string(depth, ']');
  write_model_bytes(dir, raw_safetensors("{\"t\": {\"dtype\": \"F32\", \"shape\": " + nest +
                                             ", \"data_offsets\": [0, 4]}}",
                                         "abcd"));
  const std::string msg = load_error(dir.path());
  EXPECT_MSG_HAS(msg, dir / "model.safetensors", "'t'", "shape");
  EXPECT_LT(msg.size(), 2000u) << "the message should not echo the whole header";

  write_bytes(
      dir / "model.safetensors",
      raw_safetensors(
          "{\"t\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": " + nest + "}}", "abcd"));
  const std::string msg2 = load_error(dir.path());
  EXPECT_MSG_HAS(msg2, dir / "model.safetensors", "'t'", "data_offsets");
  EXPECT_LT(msg2.size(), 2000u);
}

// ------------------------------------------------------------------------------------------------
// 4. data_offsets.

TEST(BadSafetensors, DataOffsetsOutOfRange) {
  ScratchDir dir;
  write_model_bytes(
      dir, one_tensor_file({{"dtype", "F32"}, {"shape", {100}}, {"data_offsets", {0, 400}}}, 16));
  EXPECT_MSG_HAS(load_error(dir.path()), dir / "model.safetensors", "tensor 't'", "[0, 400]",
                 "run past the data section", "(16 bytes)");
}

TEST(BadSafetensors, DataOffsetsHugeDoNotOverflow) {
  ScratchDir dir;
  const uint64_t big = ~uint64_t(0);
  write_model_bytes(
      dir, one_tensor_file({{"dtype", "U8"}, {"shape", {1}}, {"data_offsets", {big, big}}}, 16));
  EXPECT_MSG_HAS(load_error(dir.path()), dir / "model.safetensors", "tensor 't'",
                 std::to_string(big), "run past the data section");
}

TEST(BadSafetensors, DataOffsetsBeginAfterEnd) {
  ScratchDir dir;
  write_model_bytes(
      dir, one_tensor_file({{"dtype", "F32"}, {"shape", {1}}, {"data_offsets", {8, 4}}}, 16));
  EXPECT_MSG_HAS(load_error(dir.path()), dir / "model.safetensors", "tensor 't'", "[8, 4]",
                 "end before they begin");
}

TEST(BadSafetensors, DataOffsetsNotTwoIntegers) {
  ScratchDir dir;
  for (const json& off : {json::array({0}), json::array({0, "4"}), json::array({-4, 0}),
                          json::array({0.0, 4.0}), json("0-4")}) {
    write_model_bytes(
        dir, one_tensor_file({{"dtype", "F32"}, {"shape", {1}}, {"data_offsets", off}}, 4));
    EXPECT_MSG_HAS(load_error(dir.path()), dir / "model.safetensors", "tensor 't'",
                   "data_offsets must be [begin, end]", off.dump());
  }
}

TEST(BadSafetensors, ByteCountDoesNotMatchDtypeAndShape) {
  ScratchDir dir;
  write_model_bytes(
      dir, one_tensor_file({{"dtype", "F32"}, {"shape", {2, 3}}, {"data_offsets", {0, 20}}}, 32));
  EXPECT_MSG_HAS(load_error(dir.path()), dir / "model.safetensors", "tensor 't'", "[0, 20]",
                 "hold 20 bytes", "F32", "[2, 3]", "need 24");
}

TEST(BadSafetensors, ByteCountOfTheRealFileOffByOne) {
  // The real embedding table, its end offset one byte short.
  ScratchDir dir;
  std::string full = read_bytes(tiny() + "/model.safetensors");
  const std::string from = "\"data_offsets\":[0,131072]";
  const size_t at = full.find(from);
  ASSERT_NE(at, npos);
  full.replace(at, from.size(), "\"data_offsets\":[0,131071]");
  write_model_bytes(dir, full);
  EXPECT_MSG_HAS(load_error(dir.path()), dir / "model.safetensors", "'backbone.embeddings.weight'",
                 "hold 131071 bytes", "[512, 64]", "need 131072");
}

TEST(BadSafetensors, OverlappingTensors) {
  ScratchDir dir;
  const json header = {{"first", {{"dtype", "F32"}, {"shape", {4}}, {"data_offsets", {0, 16}}}},
                       {"second", {{"dtype", "F32"}, {"shape", {4}}, {"data_offsets", {8, 24}}}}};
  write_model_bytes(dir, raw_safetensors(header.dump(), std::string(24, '\0')));
  EXPECT_MSG_HAS(load_error(dir.path()), dir / "model.safetensors", "'first' [0, 16)",
                 "'second' [8, 24)", "overlap");
}

TEST(BadSafetensors, NegativeOrFractionalDimension) {
  ScratchDir dir;
  for (const json& shape : {json::array({-1, 4}), json::array({1.5}), json::array({"4"})}) {
    write_model_bytes(
        dir, one_tensor_file({{"dtype", "F32"}, {"shape", shape}, {"data_offsets", {0, 16}}}, 16));
    EXPECT_MSG_HAS(load_error(dir.path()), dir / "model.safetensors", "tensor 't'", shape.dump(),
                   "negative dimension");
  }
}

TEST(BadSafetensors, ShapeTooLargeDoesNotOverflow) {
  ScratchDir dir;
  const uint64_t d = uint64_t(1) << 40;
  write_model_bytes(
      dir, one_tensor_file({{"dtype", "F32"}, {"shape", {d, d}}, {"data_offsets", {0, 16}}}, 16));
  EXPECT_MSG_HAS(load_error(dir.path()), dir / "model.safetensors", "tensor 't'", std::to_string(d),
                 "too large");
}

// ------------------------------------------------------------------------------------------------
// 5. dtypes.

TEST(BadSafetensors, UnknownDtype) {
  ScratchDir dir;
  auto ts = read_tensors(tiny() + "/model.safetensors");
  find(ts, "backbone.layers.0.mixer.D")->dtype = "F8_E9";
  write_model(dir, ts);
  EXPECT_MSG_HAS(load_error(dir.path()), dir / "model.safetensors", "'backbone.layers.0.mixer.D'",
                 "unknown dtype 'F8_E9'");
}

TEST(BadSafetensors, MissingDtype) {
  ScratchDir dir;
  write_model_bytes(dir, one_tensor_file({{"shape", {1}}, {"data_offsets", {0, 4}}}, 4));
  EXPECT_MSG_HAS(load_error(dir.path()), dir / "model.safetensors", "tensor 't'", "dtype");
}

TEST(BadWeights, IntegerDtypeWithTheRightShape) {
  ScratchDir dir;
  auto ts = read_tensors(tiny() + "/model.safetensors");
  find(ts, "backbone.norm_f.weight")->dtype = "I32";  // same 4 bytes per element
  write_model(dir, ts);
  EXPECT_MSG_HAS(load_error(dir.path()), dir / "model.safetensors", "'backbone.norm_f.weight'",
                 "dtype I32", "F32, F16 or BF16");
}

TEST(BadWeights, F64WeightRejected) {
  // F64 is a float dtype the header reader accepts; the binder allows only F32/F16/BF16.
  ScratchDir dir;
  auto ts = read_tensors(tiny() + "/model.safetensors");
  Tensor* t = find(ts, "backbone.layers.1.mixer.D");
  std::string wide;
  for (size_t i = 0; i < t->data.size(); i += 4) {
    float f;
    std::memcpy(&f, t->data.data() + i, 4);
    const double d = f;
    wide.append(reinterpret_cast<const char*>(&d), 8);
  }
  t->dtype = "F64";
  t->data = wide;
  write_model(dir, ts);
  EXPECT_MSG_HAS(load_error(dir.path()), "'backbone.layers.1.mixer.D'", "dtype F64",
                 "F32, F16 or BF16");
}

// ------------------------------------------------------------------------------------------------
// 6, 7. Wrong shapes, missing tensors.

TEST(BadWeights, TransposedInProj) {
  ScratchDir dir;
  auto ts = read_tensors(tiny() + "/model.safetensors");
  find(ts, "backbone.layers.0.mixer.in_proj.weight")->shape = {64, 256};
  write_model(dir, ts);
  EXPECT_MSG_HAS(load_error(dir.path()), dir / "model.safetensors",
                 "'backbone.layers.0.mixer.in_proj.weight'", "has shape [64, 256]",
                 "expected [256, 64]", "config.json");
}

TEST(BadWeights, ConfigDisagreesWithWeights) {
  // state_size 8 in config.json, 16 in the weights: the first tensor that depends on it is named.
  ScratchDir dir;
  fs::copy_file(tiny() + "/model.safetensors", dir / "model.safetensors");
  json c = json::parse(read_bytes(tiny() + "/config.json"));
  c["state_size"] = 8;
  write_bytes(dir / "config.json", c.dump());
  EXPECT_MSG_HAS(load_error(dir.path()), "'backbone.layers.0.mixer.x_proj.weight'",
                 "has shape [36, 128]", "expected [20, 128]");
}

TEST(BadWeights, MissingNormF) {
  ScratchDir dir;
  auto ts = read_tensors(tiny() + "/model.safetensors");
  drop(ts, "backbone.norm_f.weight");
  write_model(dir, ts);
  EXPECT_MSG_HAS(load_error(dir.path()), dir / "model.safetensors",
                 "missing tensor 'backbone.norm_f.weight'");
}

TEST(BadWeights, MissingEmbeddings) {
  ScratchDir dir;
  auto ts = read_tensors(tiny() + "/model.safetensors");
  drop(ts, "backbone.embeddings.weight");
  write_model(dir, ts);
  EXPECT_MSG_HAS(load_error(dir.path()), "missing tensor 'backbone.embeddings.weight'");
}

TEST(BadWeights, UntiedWithoutLmHead) {
  ScratchDir dir;
  fs::copy_file(tiny() + "/model.safetensors", dir / "model.safetensors");
  json c = json::parse(read_bytes(tiny() + "/config.json"));
  c["tie_word_embeddings"] = false;
  write_bytes(dir / "config.json", c.dump());
  EXPECT_MSG_HAS(load_error(dir.path()), "missing tensor 'lm_head.weight'");
}

// ------------------------------------------------------------------------------------------------
// 8. config.json.

// A copy of mamba1-tiny whose config.json is `text`; returns Model::load's message.
std::string config_text_error(const std::string& text) {
  ScratchDir dir;
  fs::copy_file(tiny() + "/model.safetensors", dir / "model.safetensors");
  write_bytes(dir / "config.json", text);
  const std::string msg = load_error(dir.path());
  EXPECT_MSG_HAS(msg, dir / "config.json");
  return msg;
}

std::string config_error(const std::function<void(json&)>& mutate) {
  json c = json::parse(read_bytes(tiny() + "/config.json"));
  mutate(c);
  return config_text_error(c.dump(2));
}

TEST(BadConfig, MissingHiddenSize) {
  EXPECT_MSG_HAS(config_error([](json& c) { c.erase("hidden_size"); }),
                 "missing required field 'hidden_size'");
}

TEST(BadConfig, NegativeLayers) {
  EXPECT_MSG_HAS(config_error([](json& c) { c["num_hidden_layers"] = -3; }), "'num_hidden_layers'",
                 "-3", "out of range [1, 4096]");
}

TEST(BadConfig, ZeroLayers) {
  EXPECT_MSG_HAS(config_error([](json& c) { c["num_hidden_layers"] = 0; }),
                 "'num_hidden_layers' = 0", "out of range [1, 4096]");
}

TEST(BadConfig, NonIntegerStateSize) {
  EXPECT_MSG_HAS(config_error([](json& c) { c["state_size"] = 16.5; }),
                 "'state_size' must be an integer", "16.5");
}

TEST(BadConfig, StringHiddenSize) {
  EXPECT_MSG_HAS(config_error([](json& c) { c["hidden_size"] = "64"; }),
                 "'hidden_size' must be an integer", "\"64\"");
}

TEST(BadConfig, HugeVocab) {
  EXPECT_MSG_HAS(config_error([](json& c) { c["vocab_size"] = 1e30; }), "'vocab_size'",
                 "out of range [1, 16777216]");
}

TEST(BadConfig, GeluActivation) {
  EXPECT_MSG_HAS(config_error([](json& c) { c["hidden_act"] = "gelu"; }),
                 "'hidden_act' must be \"silu\"", "got \"gelu\"");
}

TEST(BadConfig, UnknownModelType) {
  EXPECT_MSG_HAS(config_error([](json& c) { c["model_type"] = "falcon_mamba"; }), "model_type",
                 "\"falcon_mamba\"", "\"mamba\"");
}

TEST(BadConfig, MissingModelType) {
  EXPECT_MSG_HAS(config_error([](json& c) { c.erase("model_type"); }),
                 "missing required field 'model_type'");
}

TEST(BadConfig, ModelTypeNotAString) {
  EXPECT_MSG_HAS(config_error([](json& c) { c["model_type"] = 1; }), "'model_type'",
                 "must be a string", "got 1");
}

TEST(BadConfig, NotJson) {
  EXPECT_MSG_HAS(config_text_error("{\"model_type\": \"mamba\", \"hidden_size\": 64,"),
                 "invalid JSON");
}

TEST(BadConfig, NotAnObject) { EXPECT_MSG_HAS(config_text_error("[\"mamba\"]"), "JSON object"); }

TEST(BadConfig, EmptyFile) { EXPECT_MSG_HAS(config_text_error(""), "invalid JSON"); }

TEST(BadConfig, ZeroLayerNormEpsilon) {
  EXPECT_MSG_HAS(config_error([](json& c) { c["layer_norm_epsilon"] = 0; }), "'layer_norm_epsilon'",
                 "positive", "got 0");
}

TEST(BadConfig, NaNLayerNormEpsilon) {
  // Python's json writes NaN bare; it must parse, then be rejected.
  json c = json::parse(read_bytes(tiny() + "/config.json"));
  c.erase("layer_norm_epsilon");
  std::string text = c.dump(2);
  text.insert(text.rfind('}'), ", \"layer_norm_epsilon\": NaN\n");
  EXPECT_MSG_HAS(config_text_error(text), "'layer_norm_epsilon'", "got nan");
}

TEST(BadConfig, NegativeExpand) {
  EXPECT_MSG_HAS(config_error([](json& c) { c["expand"] = -1; }), "'expand'", "positive number",
                 "got -1");
}

TEST(BadConfig, ExpandNotANumber) {
  EXPECT_MSG_HAS(config_error([](json& c) { c["expand"] = "two"; }), "'expand'", "must be a number",
                 "\"two\"");
}

TEST(BadConfig, TimeStepRankFoo) {
  EXPECT_MSG_HAS(config_error([](json& c) { c["time_step_rank"] = "foo"; }), "'time_step_rank'",
                 "integer or \"auto\"", "got \"foo\"");
}

TEST(BadConfig, BooleanFieldNotABoolean) {
  EXPECT_MSG_HAS(config_error([](json& c) { c["use_bias"] = "no"; }), "'use_bias'", "true or false",
                 "\"no\"");
}

TEST(BadConfig, EosTokenBeyondVocab) {
  EXPECT_MSG_HAS(config_error([](json& c) { c["eos_token_id"] = 512; }), "'eos_token_id'", "512",
                 "out of range [-1, 511]");
}

TEST(BadConfig, DeeplyNestedValueDoesNotCrash) {
  const int depth = 200000;
  json c = json::parse(read_bytes(tiny() + "/config.json"));
  c.erase("hidden_size");
  std::string text = c.dump();
  text.insert(text.rfind('}'),
              ", \"hidden_size\": " + std::string(depth, '[') + std::string(depth, ']'));
  const std::string msg = config_text_error(text);
  EXPECT_MSG_HAS(msg, "'hidden_size'", "integer");
  EXPECT_LT(msg.size(), 2000u);
}

// ------------------------------------------------------------------------------------------------
// 9. Sharded checkpoints.

constexpr const char* kShard1 = "model-00001-of-00002.safetensors";
constexpr const char* kShard2 = "model-00002-of-00002.safetensors";

// A copy of mamba1-tiny-sharded in `dir`; returns its index for mutation.
json copy_sharded(const ScratchDir& dir) {
  for (const char* f : {"config.json", "model.safetensors.index.json", kShard1, kShard2})
    fs::copy_file(tiny_sharded() + "/" + f, dir / f);
  return json::parse(read_bytes(dir / "model.safetensors.index.json"));
}

void write_index(const ScratchDir& dir, const json& index) {
  write_bytes(dir / "model.safetensors.index.json", index.dump(2));
}

TEST(BadShards, CopyLoads) {
  ScratchDir dir;
  copy_sharded(dir);
  auto r = Model::load(dir.path());
  EXPECT_TRUE(r.ok()) << r.message();
}

TEST(BadShards, MissingShardFile) {
  ScratchDir dir;
  json index = copy_sharded(dir);
  fs::remove(dir / kShard2);
  EXPECT_MSG_HAS(load_error(dir.path()), dir / "model.safetensors.index.json",
                 std::string("shard \"") + kShard2 + "\"", "'backbone.layers.1.mixer.A_log'",
                 "does not exist");
}

TEST(BadShards, WeightMapNamesUnknownShard) {
  ScratchDir dir;
  json index = copy_sharded(dir);
  index["weight_map"]["backbone.norm_f.weight"] = "model-00003-of-00002.safetensors";
  write_index(dir, index);
  EXPECT_MSG_HAS(load_error(dir.path()), dir / "model.safetensors.index.json",
                 "\"model-00003-of-00002.safetensors\"", "'backbone.norm_f.weight'",
                 "does not exist");
}

TEST(BadShards, ParentDirectoryPath) {
  ScratchDir dir;
  json index = copy_sharded(dir);
  index["weight_map"]["backbone.norm_f.weight"] = "../x.safetensors";
  write_index(dir, index);
  EXPECT_MSG_HAS(load_error(dir.path()), dir / "model.safetensors.index.json",
                 "'backbone.norm_f.weight'", "\"../x.safetensors\"", "not a plain file name");
}

TEST(BadShards, SubdirectoryAndAbsolutePaths) {
  for (const std::string f : {"sub/x.safetensors", "/etc/passwd", "..", ".", ""}) {
    ScratchDir dir;
    json index = copy_sharded(dir);
    index["weight_map"]["backbone.norm_f.weight"] = f;
    write_index(dir, index);
    EXPECT_MSG_HAS(load_error(dir.path()), dir / "model.safetensors.index.json",
                   "'backbone.norm_f.weight'", "\"" + f + "\"", "not a plain file name");
  }
}

TEST(BadShards, ShardNameNotAString) {
  ScratchDir dir;
  json index = copy_sharded(dir);
  index["weight_map"]["backbone.norm_f.weight"] = 2;
  write_index(dir, index);
  EXPECT_MSG_HAS(load_error(dir.path()), dir / "model.safetensors.index.json",
                 "'backbone.norm_f.weight'", "not a file name");
}

TEST(BadShards, ListedButAbsentFromShard) {
  ScratchDir dir;
  json index = copy_sharded(dir);
  index["weight_map"]["backbone.norm_f.weight"] = kShard1;  // it lives in shard 2
  write_index(dir, index);
  EXPECT_MSG_HAS(load_error(dir.path()), dir / "model.safetensors.index.json",
                 "'backbone.norm_f.weight'", std::string("\"") + kShard1 + "\"",
                 "does not contain it");
}

TEST(BadShards, SameTensorInTwoShards) {
  ScratchDir dir;
  copy_sharded(dir);
  auto s1 = read_tensors(dir / kShard1);
  auto s2 = read_tensors(dir / kShard2);
  s2.push_back(*find(s1, "backbone.layers.0.norm.weight"));
  write_bytes(dir / kShard2, build_safetensors(s2));
  EXPECT_MSG_HAS(load_error(dir.path()), "'backbone.layers.0.norm.weight'", kShard1, kShard2,
                 "also appears in");
}

TEST(BadShards, IndexNotJson) {
  ScratchDir dir;
  copy_sharded(dir);
  write_bytes(dir / "model.safetensors.index.json", "{\"weight_map\": {");
  EXPECT_MSG_HAS(load_error(dir.path()), dir / "model.safetensors.index.json", "invalid JSON");
}

TEST(BadShards, IndexWithoutWeightMap) {
  ScratchDir dir;
  json index = copy_sharded(dir);
  index.erase("weight_map");
  write_index(dir, index);
  EXPECT_MSG_HAS(load_error(dir.path()), dir / "model.safetensors.index.json", "'weight_map'");
}

TEST(BadShards, TruncatedShard) {
  ScratchDir dir;
  copy_sharded(dir);
  const std::string s2 = read_bytes(dir / kShard2);
  write_bytes(dir / kShard2, s2.substr(0, s2.size() / 2));
  EXPECT_MSG_HAS(load_error(dir.path()), dir / kShard2, "run past the data section");
}

// ------------------------------------------------------------------------------------------------
// 10. Directories.

TEST(BadDirectory, MissingModelDirectory) {
  ScratchDir dir;
  const std::string missing = dir / "no-such-model";
  EXPECT_MSG_HAS(load_error(missing), missing, "does not exist");
}

TEST(BadDirectory, PathIsAFile) {
  EXPECT_MSG_HAS(load_error(tiny() + "/config.json"), tiny() + "/config.json", "directory");
}

TEST(BadDirectory, NoModelSafetensors) {
  ScratchDir dir;
  fs::copy_file(tiny() + "/config.json", dir / "config.json");
  EXPECT_MSG_HAS(load_error(dir.path()), dir.path(), "no model.safetensors",
                 "model.safetensors.index.json");
}

TEST(BadDirectory, NoConfigJson) {
  ScratchDir dir;
  fs::copy_file(tiny() + "/model.safetensors", dir / "model.safetensors");
  EXPECT_MSG_HAS(load_error(dir.path()), dir / "config.json", "cannot open");
}

TEST(BadDirectory, ModelSafetensorsIsADirectory) {
  ScratchDir dir;
  fs::copy_file(tiny() + "/config.json", dir / "config.json");
  fs::create_directory(dir / "model.safetensors");
  EXPECT_MSG_HAS(load_error(dir.path()), "model.safetensors");
}

// ------------------------------------------------------------------------------------------------
// 11. Token ids.

struct Snapshot {
  int64_t n_past;
  std::vector<float> logits, state;
};

Snapshot snapshot(const Session& s) {
  const Config& c = s.model().config();
  Snapshot snap{s.n_past(), std::vector<float>(s.logits(), s.logits() + c.vocab_size), {}};
  for (int l = 0; l < c.n_layer; ++l) {
    const size_t nc = size_t(c.d_conv - 1) * c.d_inner, ns = size_t(c.d_state) * c.d_inner;
    snap.state.insert(snap.state.end(), s.conv_state(l), s.conv_state(l) + nc);
    snap.state.insert(snap.state.end(), s.ssm_state(l), s.ssm_state(l) + ns);
  }
  return snap;
}

void expect_same(const Snapshot& a, const Snapshot& b) {
  EXPECT_EQ(a.n_past, b.n_past);
  EXPECT_EQ(a.logits, b.logits);
  EXPECT_EQ(a.state, b.state);
}

std::unique_ptr<Session> tiny_session() {
  auto m = Model::load(tiny());
  EXPECT_TRUE(m.ok()) << m.message();
  if (!m.ok()) return nullptr;
  SessionLimits lim;
  lim.prefill_chunk = 4;
  auto s = Session::create(m.value(), lim);
  EXPECT_TRUE(s.ok()) << s.message();
  return s.ok() ? std::move(s.value()) : nullptr;
}

TEST(BadTokens, PrefillIdAtVocab) {
  auto s = tiny_session();
  ASSERT_TRUE(s);
  const int32_t ids[] = {1, 2, 512, 3};
  auto r = s->prefill(ids, 4);
  ASSERT_FALSE(r.ok());
  EXPECT_MSG_HAS(r.message(), "prefill", "token id 512", "position 2", "[0, 512)");
  EXPECT_EQ(s->n_past(), 0);
}

TEST(BadTokens, PrefillNegativeId) {
  auto s = tiny_session();
  ASSERT_TRUE(s);
  const int32_t ids[] = {-1};
  auto r = s->prefill(ids, 1);
  ASSERT_FALSE(r.ok());
  EXPECT_MSG_HAS(r.message(), "token id -1", "position 0", "[0, 512)");
}

TEST(BadTokens, PrefillEmptyOrNull) {
  auto s = tiny_session();
  ASSERT_TRUE(s);
  const int32_t ids[] = {1};
  auto r = s->prefill(ids, 0);
  ASSERT_FALSE(r.ok());
  EXPECT_MSG_HAS(r.message(), "no tokens");
  r = s->prefill(nullptr, 3);
  ASSERT_FALSE(r.ok());
  EXPECT_MSG_HAS(r.message(), "null");
  EXPECT_EQ(s->n_past(), 0);
}

TEST(BadTokens, FailedPrefillLeavesStateUntouched) {
  auto s = tiny_session();
  ASSERT_TRUE(s);
  const int32_t good[] = {5, 6, 7, 8, 9, 10};  // two chunks of 4
  ASSERT_TRUE(s->prefill(good, 6).ok());
  const Snapshot before = snapshot(*s);
  ASSERT_EQ(before.n_past, 6);
  // The bad id comes after a whole chunk of good ones: nothing may run.
  const int32_t bad[] = {1, 2, 3, 4, 5, 6, 7, 99999};
  std::vector<float> all(8 * 512, -7.0f);
  auto r = s->prefill(bad, 8, all.data());
  ASSERT_FALSE(r.ok());
  EXPECT_MSG_HAS(r.message(), "token id 99999", "position 7", "[0, 512)");
  expect_same(before, snapshot(*s));
  for (float v : all) ASSERT_EQ(v, -7.0f) << "all_logits written by a failed prefill";
  // And the session still works from where it was.
  auto ok = s->step(11);
  ASSERT_TRUE(ok.ok()) << ok.message();
  EXPECT_EQ(s->n_past(), 7);
}

TEST(BadTokens, StepOutOfRange) {
  auto s = tiny_session();
  ASSERT_TRUE(s);
  const int32_t good[] = {5, 6, 7};
  ASSERT_TRUE(s->prefill(good, 3).ok());
  const Snapshot before = snapshot(*s);
  for (int32_t id : {512, -1, 99999, INT32_MIN, INT32_MAX}) {
    auto r = s->step(id);
    ASSERT_FALSE(r.ok()) << id;
    EXPECT_MSG_HAS(r.message(), "step", "token id " + std::to_string(id), "[0, 512)");
    expect_same(before, snapshot(*s));
  }
}

// ------------------------------------------------------------------------------------------------
// 12. The command-line tools.


std::string generate() { return program("mamba-generate"); }
std::string logits() { return program("mamba-logits"); }

// Must exit non-zero (normally, not by a signal) with `parts` in its stderr.
#define EXPECT_TOOL_FAILS(r, ...)                        \
  do {                                                   \
    const RunResult& r_ = (r);                           \
    EXPECT_GT(r_.exit_code, 0) << "stderr:\n" << r_.err; \
    EXPECT_MSG_HAS(r_.err, __VA_ARGS__);                 \
  } while (0)

TEST(BadCli, HappyPath) {
  ScratchDir dir;
  const RunResult r = run(dir, generate() + " -m " + tiny() + " --ids 1,2,3 -n 4");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), ','), 3) << r.out;
  // stderr holds only the timings line.
  EXPECT_EQ(r.err.find("error"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("warning"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.rfind("load: ", 0), 0u) << r.err;
  const RunResult l = run(
      dir, logits() + " -m " + tiny() + " --ids 1,2,3 --decode-from 1 --out " + (dir / "l.npy"));
  EXPECT_EQ(l.exit_code, 0) << l.err;
}

TEST(BadCli, MissingModelDirectory) {
  ScratchDir dir;
  const std::string missing = dir / "no-such-model";
  EXPECT_TOOL_FAILS(run(dir, generate() + " -m " + missing + " --ids 1,2,3"), "mamba-generate",
                    missing, "does not exist");
  EXPECT_TOOL_FAILS(run(dir, logits() + " -m " + missing + " --ids 1,2,3 --out " + (dir / "l.npy")),
                    "mamba-logits", missing, "does not exist");
}

TEST(BadCli, UnknownWeightType) {
  ScratchDir dir;
  EXPECT_TOOL_FAILS(run(dir, generate() + " -m " + tiny() + " --weights q5 --ids 1,2,3"),
                    "mamba-generate", "--weights", "unknown weight type 'q5'", "f32, bf16, f16, q8 or q4");
}

TEST(BadCli, ModelFlagAbsentMeansTheBundledModel) {
  ScratchDir dir;
  const auto r = run(dir, generate() + " --ids 1,2,3 -n 2");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TOOL_FAILS(run(dir, generate() + " -m " + (dir / "none") + " --ids 1,2,3"), "none",
                    "does not exist");
}

TEST(BadCli, NonNumericId) {
  ScratchDir dir;
  EXPECT_TOOL_FAILS(run(dir, generate() + " -m " + tiny() + " --ids 1,x,3"), "--ids", "\"x\"",
                    "item 2");
  EXPECT_TOOL_FAILS(run(dir, logits() + " -m " + tiny() + " --ids 1,x,3 --out " + (dir / "l.npy")),
                    "--ids", "\"x\"", "item 2");
}

TEST(BadCli, MalformedIdLists) {
  ScratchDir dir;
  EXPECT_TOOL_FAILS(run(dir, generate() + " -m " + tiny() + " --ids=''"), "--ids");
  for (const std::string ids : {"1,,2", "1,2,", "-3", "99999999999", "1.5"}) {
    EXPECT_TOOL_FAILS(run(dir, generate() + " -m " + tiny() + " --ids=" + ids), "--ids",
                      "not a token id");
  }
}

TEST(BadCli, IdBeyondVocab) {
  ScratchDir dir;
  EXPECT_TOOL_FAILS(run(dir, generate() + " -m " + tiny() + " --ids 1,99999"), "token id 99999",
                    "[0, 512)");
  // Through prefill and through step().
  for (const char* k : {"2", "0", "1"})
    EXPECT_TOOL_FAILS(run(dir, logits() + " -m " + tiny() + " --ids 1,99999 --decode-from " + k +
                                   " --out " + (dir / "l.npy")),
                      "mamba-logits", "token id 99999", "[0, 512)");
}

TEST(BadCli, DecodeFromBeyondSequence) {
  ScratchDir dir;
  EXPECT_TOOL_FAILS(run(dir, logits() + " -m " + tiny() + " --ids 1,2,3 --decode-from 5 --out " +
                                 (dir / "l.npy")),
                    "--decode-from 5", "sequence length 3");
}

TEST(BadCli, NegativeDecodeFrom) {
  ScratchDir dir;
  EXPECT_TOOL_FAILS(run(dir, logits() + " -m " + tiny() + " --ids 1,2,3 --decode-from -2 --out " +
                                 (dir / "l.npy")),
                    "--decode-from -2", ">= 0");
}

TEST(BadCli, UnknownFlag) {
  ScratchDir dir;
  EXPECT_TOOL_FAILS(run(dir, generate() + " -m " + tiny() + " --ids 1,2 --bogus"), "--bogus");
  EXPECT_TOOL_FAILS(
      run(dir, logits() + " -m " + tiny() + " --ids 1,2 --bogus --out " + (dir / "l.npy")),
      "--bogus");
}

TEST(BadCli, NegativeThreads) {
  ScratchDir dir;
  EXPECT_TOOL_FAILS(run(dir, generate() + " -m " + tiny() + " --ids 1,2 -t -5"), "threads", "-5");
  EXPECT_TOOL_FAILS(
      run(dir, logits() + " -m " + tiny() + " --ids 1,2 -t -5 --out " + (dir / "l.npy")), "threads",
      "-5");
}

TEST(BadCli, BadSamplerSettings) {
  ScratchDir dir;
  EXPECT_TOOL_FAILS(run(dir, generate() + " -m " + tiny() + " --ids 1,2 --temp -1"), "temperature",
                    "-1");
  EXPECT_TOOL_FAILS(run(dir, generate() + " -m " + tiny() + " --ids 1,2 --temp 1 --top-p 2"),
                    "top_p", "2");
  EXPECT_TOOL_FAILS(run(dir, generate() + " -m " + tiny() + " --ids 1,2 --top-k -1"), "top_k",
                    "-1");
}

TEST(BadCli, TruncatedModelFile) {
  ScratchDir dir;
  const std::string model = dir / "model";
  fs::create_directory(model);
  fs::copy_file(tiny() + "/config.json", model + "/config.json");
  const std::string full = read_bytes(tiny() + "/model.safetensors");
  write_bytes(model + "/model.safetensors", full.substr(0, full.size() / 2));
  EXPECT_TOOL_FAILS(run(dir, generate() + " -m " + model + " --ids 1,2"), "mamba-generate",
                    model + "/model.safetensors", "run past the data section");
  EXPECT_TOOL_FAILS(run(dir, logits() + " -m " + model + " --ids 1,2 --out " + (dir / "l.npy")),
                    "mamba-logits", model + "/model.safetensors", "run past the data section");
}

TEST(BadCli, UnwritableOutput) {
  ScratchDir dir;
  const std::string out = dir / "no-such-dir/l.npy";
  EXPECT_TOOL_FAILS(run(dir, logits() + " -m " + tiny() + " --ids 1,2 --out " + out), out,
                    "cannot write");
}

}  // namespace
}  // namespace mamba::test

// --- Mamba-2 config fields -----------------------------------------------------------------

namespace mamba::test {
namespace {

// mamba2-groups2's config.json (Python JSON: it holds Infinity) with one substring replaced.
std::string mamba2_config_error(const std::string& from, const std::string& to) {
  std::string text = read_bytes(fixture_dir("mamba2-groups2") + "/config.json");
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return config_text_error(text);
}

TEST(BadMamba2Config, HeadsTimesHeadDimNotDInner) {
  EXPECT_MSG_HAS(mamba2_config_error("\"num_heads\": 8", "\"num_heads\": 6"), "num_heads * head_dim",
                 "96", "128");
}

TEST(BadMamba2Config, GroupsDoNotDivideHeads) {
  EXPECT_MSG_HAS(mamba2_config_error("\"n_groups\": 2", "\"n_groups\": 3"), "num_heads = 8",
                 "n_groups = 3");
}

TEST(BadMamba2Config, TimeStepLimitReversedOrNaN) {
  EXPECT_MSG_HAS(mamba2_config_error("0.0,\n    Infinity", "0.5,\n    0.1"), "time_step_limit",
                 "0.5", "0.1");
  EXPECT_MSG_HAS(mamba2_config_error("0.0,\n    Infinity", "0.0,\n    NaN"), "time_step_limit");
  EXPECT_MSG_HAS(mamba2_config_error("0.0,\n    Infinity", "0.0"), "time_step_limit",
                 "[min, max]");
}

TEST(BadMamba2Config, ZeroChunkSize) {
  EXPECT_MSG_HAS(mamba2_config_error("\"chunk_size\": 8", "\"chunk_size\": 0"), "'chunk_size'",
                 "out of range");
}

TEST(BadMamba2Config, WeightsOfTheWrongArchitecture) {
  // A Mamba-2 config over Mamba-1 weights: in_proj has Mamba-1's shape.
  ScratchDir dir;
  fs::copy_file(tiny() + "/model.safetensors", dir / "model.safetensors");
  write_bytes(dir / "config.json", read_bytes(fixture_dir("mamba2-groups2") + "/config.json"));
  EXPECT_MSG_HAS(load_error(dir.path()), "in_proj.weight", "[256, 64]", "[328, 64]");
}

}  // namespace
}  // namespace mamba::test

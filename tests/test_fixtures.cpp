// Every Mamba-1 fixture against the float64 reference in its expected.safetensors: prefill logits,
// every intermediate tensor, hidden states, conv and SSM states, decode logits, greedy ids, the
// short prompt; and the equivalences prefill == chunked prefill == prefill(k) + steps.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "mamba/mamba.h"
#include "tests/test_util.h"

namespace mamba::test {
namespace {

// Collects tapped rows into whole [T, cols] tensors named like expected.safetensors
// ("hidden.0", "debug.layers.1.conv_out", "norm_f_out", ...).
struct Recorder {
  std::map<std::string, std::vector<float>> tensors;
  std::map<std::string, int> cols;
  int64_t T = 0;

  static std::string key(const char* name, int layer) {
    const std::string n = name;
    if (n == "hidden") return "hidden." + std::to_string(layer);
    if (layer < 0) return n;
    return "debug.layers." + std::to_string(layer) + "." + n;
  }
  static void tap(void* user, const char* name, int layer, int64_t row0, const float* data,
                  int rows, int cols, int ld) {
    auto* r = static_cast<Recorder*>(user);
    const std::string k = key(name, layer);
    auto& v = r->tensors[k];
    v.resize(size_t(r->T) * size_t(cols));
    r->cols[k] = cols;
    for (int i = 0; i < rows; ++i)
      std::copy(data + int64_t(i) * ld, data + int64_t(i) * ld + cols,
                v.begin() + (row0 + i) * cols);
  }
};

std::unique_ptr<Session> make_session(const std::string& fixture, int chunk = 128,
                                      int threads = 0) {
  auto model = Model::load(fixture_dir(fixture));
  EXPECT_TRUE(model.ok()) << model.message();
  if (!model.ok()) return nullptr;
  SessionLimits lim;
  lim.prefill_chunk = chunk;
  lim.n_threads = threads;
  auto s = Session::create(model.value(), lim);
  EXPECT_TRUE(s.ok()) << s.message();
  return s.ok() ? std::move(s.value()) : nullptr;
}

// Our conv state [K-1, d] vs HF's [1, d, K] (its column 0 is never read again).
std::vector<float> hf_conv_state(const std::vector<float>& hf, int d, int K) {
  std::vector<float> ours(size_t(K - 1) * d);
  for (int c = 0; c < d; ++c)
    for (int k = 1; k < K; ++k) ours[size_t(k - 1) * d + c] = hf[size_t(c) * K + k];
  return ours;
}
// Our SSM state [N, d] vs HF's [1, d, N].
std::vector<float> hf_ssm_state(const std::vector<float>& hf, int d, int N) {
  std::vector<float> ours(size_t(N) * d);
  for (int c = 0; c < d; ++c)
    for (int n = 0; n < N; ++n) ours[size_t(n) * d + c] = hf[size_t(c) * N + n];
  return ours;
}

void expect_states(const Session& s, const Expected& e, const std::string& prefix) {
  const Config& c = s.model().config();
  const int C = c.conv_dim();
  const size_t conv_n = size_t(c.d_conv - 1) * C, ssm_n = size_t(c.d_state) * c.d_inner;
  for (int l = 0; l < c.n_layer; ++l) {
    const std::string p = prefix + "layers." + std::to_string(l) + ".";
    EXPECT_TRUE(all_close(s.conv_state(l),
                          hf_conv_state(e.f32(p + "conv_state"), C, c.d_conv).data(), conv_n))
        << p << "conv_state";
    // Mamba-2 keeps HF's [H, P, N]; Mamba-1 transposes [d, N] to [N, d].
    const std::vector<float> hf = e.f32(p + "ssm_state");
    const std::vector<float> want = c.arch == Architecture::mamba2
                                        ? hf
                                        : hf_ssm_state(hf, c.d_inner, c.d_state);
    EXPECT_TRUE(all_close(s.ssm_state(l), want.data(), ssm_n)) << p << "ssm_state";
  }
}

std::vector<float> rows(const float* p, size_t n) { return std::vector<float>(p, p + n); }

// "generated/mamba1-odd", 2 -> "generated_mamba1_odd_t2"
std::string fixture_test_name(
    const ::testing::TestParamInfo<std::tuple<std::string, int>>& info) {
  std::string n = std::get<0>(info.param) + "_t" + std::to_string(std::get<1>(info.param));
  for (char& ch : n)
    if (ch == '-' || ch == '/') ch = '_';
  return n;
}

class Fixture : public ::testing::TestWithParam<std::tuple<std::string, int>> {
 protected:
  std::string name() const { return std::get<0>(GetParam()); }
  int threads() const { return std::get<1>(GetParam()); }
};

TEST_P(Fixture, PrefillLogitsIntermediatesAndStates) {
  const Expected e(name());
  auto s = make_session(name(), 128, threads());
  ASSERT_TRUE(s);
  const Config& c = s->model().config();
  const auto ids = e.ids("input_ids");
  Recorder rec;
  rec.T = int64_t(ids.size());
  s->set_tap(&Recorder::tap, &rec);
  std::vector<float> logits(ids.size() * size_t(c.vocab_size));
  auto r = s->prefill(ids.data(), ids.size(), logits.data());
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_TRUE(all_close(logits, e.f32("prefill_logits"))) << "prefill_logits";

  std::vector<std::string> names = {"embeddings_out", "norm_f_out"};
  for (int l = 0; l < c.n_layer; ++l) {
    names.push_back("hidden." + std::to_string(l));
    for (const char* n : {"norm_out", "in_proj_out", "conv_out", "x_proj_out", "dt", "scan_out",
                          "gated_out", "mixer_out"}) {
      if (c.arch == Architecture::mamba2 && std::string(n) == "x_proj_out") continue;
      names.push_back("debug.layers." + std::to_string(l) + "." + n);
    }
  }
  for (const auto& n : names) {
    ASSERT_TRUE(e.has(n)) << n;
    ASSERT_TRUE(rec.tensors.count(n)) << "not tapped: " << n;
    EXPECT_TRUE(all_close(rec.tensors[n], e.f32(n))) << n;
  }
  expect_states(*s, e, "");
}

TEST_P(Fixture, DecodeLogitsAndStates) {
  const Expected e(name());
  auto s = make_session(name(), 128, threads());
  ASSERT_TRUE(s);
  const size_t V = size_t(s->model().config().vocab_size);
  const auto ids = e.ids("input_ids");
  ASSERT_TRUE(s->prefill(ids.data(), ids.size()).ok());
  const auto dec = e.ids("decode_ids");
  const auto want = e.f32("decode_logits");
  for (size_t j = 0; j < dec.size(); ++j) {
    auto r = s->step(dec[j]);
    ASSERT_TRUE(r.ok()) << r.message();
    EXPECT_TRUE(all_close(r.value(), want.data() + j * V, V)) << "decode step " << j;
  }
  expect_states(*s, e, "decode.");
}

TEST_P(Fixture, GreedyIds) {
  const Expected e(name());
  auto s = make_session(name(), 128, threads());
  ASSERT_TRUE(s);
  const size_t V = size_t(s->model().config().vocab_size);
  auto sampler = Sampler::create(int(V), SamplerParams{});  // temperature 0: greedy
  ASSERT_TRUE(sampler.ok());
  const auto ids = e.ids("input_ids");
  const auto want_ids = e.ids("greedy_ids");
  const auto want_logits = e.f32("greedy_logits");
  auto r = s->prefill(ids.data(), ids.size());
  std::vector<int32_t> got;
  for (size_t j = 0; j < want_ids.size(); ++j) {
    ASSERT_TRUE(r.ok()) << r.message();
    EXPECT_TRUE(all_close(r.value(), want_logits.data() + j * V, V)) << "greedy step " << j;
    got.push_back(sampler->sample(r.value()));
    r = s->step(got.back());
  }
  EXPECT_EQ(got, want_ids);
}

TEST_P(Fixture, ShortPromptLeavesZeroConvColumns) {
  const Expected e(name());
  auto s = make_session(name(), 128, threads());
  ASSERT_TRUE(s);
  const auto ids = e.ids("short_input_ids");
  std::vector<float> logits(ids.size() * size_t(s->model().config().vocab_size));
  ASSERT_TRUE(s->prefill(ids.data(), ids.size(), logits.data()).ok());
  EXPECT_TRUE(all_close(logits, e.f32("short_prefill_logits")));
  expect_states(*s, e, "short.");
}

// prefill in chunks of any size == one prefill == the fixture.
TEST_P(Fixture, ChunkedPrefillMatches) {
  const Expected e(name());
  const auto ids = e.ids("input_ids");
  const auto want = e.f32("prefill_logits");
  for (int chunk : {1, 2, 3, 5, 7, 8, 9, 16, 20, 21, 22}) {
    auto s = make_session(name(), chunk, threads());
    ASSERT_TRUE(s);
    std::vector<float> logits(want.size());
    ASSERT_TRUE(s->prefill(ids.data(), ids.size(), logits.data()).ok());
    EXPECT_TRUE(all_close(logits, want)) << "prefill_chunk " << chunk;
    expect_states(*s, e, "");
  }
}

// Several prefill calls of arbitrary pieces == one prefill; prefill(k) + steps == one prefill.
TEST_P(Fixture, PiecesAndStepsMatch) {
  const Expected e(name());
  const auto ids = e.ids("input_ids");
  const auto want = e.f32("prefill_logits");
  auto s = make_session(name(), 4, threads());
  ASSERT_TRUE(s);
  const size_t V = size_t(s->model().config().vocab_size), T = ids.size();
  for (size_t k = 0; k <= T; ++k) {
    s->reset();
    std::vector<float> logits(T * V);
    if (k > 0) ASSERT_TRUE(s->prefill(ids.data(), k, logits.data()).ok());
    for (size_t t = k; t < T; ++t) {
      auto r = s->step(ids[t]);
      ASSERT_TRUE(r.ok());
      std::copy(r.value(), r.value() + V, logits.begin() + t * V);
    }
    EXPECT_TRUE(all_close(logits, want)) << "prefill(" << k << ") + " << T - k << " steps";
    EXPECT_EQ(s->n_past(), int64_t(T));
  }
  // Uneven pieces: 1, 6, 3, 11.
  s->reset();
  std::vector<float> logits(T * V);
  size_t at = 0;
  for (size_t piece : {1, 6, 3, 11}) {
    ASSERT_TRUE(s->prefill(ids.data() + at, piece, logits.data() + at * V).ok());
    at += piece;
  }
  ASSERT_EQ(at, T);
  EXPECT_TRUE(all_close(logits, want)) << "prefill in pieces 1, 6, 3, 11";
  expect_states(*s, e, "");
}

INSTANTIATE_TEST_SUITE_P(Mamba2, Fixture,
                         ::testing::Combine(::testing::Values("mamba2-tiny", "mamba2-groups2",
                                                              "generated/mamba2-groups4-clamp",
                                                              "generated/mamba2-odd",
                                                              "generated/mamba2-mlp"),
                                            ::testing::Values(1, 2)),
                         fixture_test_name);

INSTANTIATE_TEST_SUITE_P(Mamba1, Fixture,
                         ::testing::Combine(::testing::Values("mamba1-tiny", "mamba1-tiny-bf16",
                                                              "mamba1-tiny-fp16",
                                                              "mamba1-tiny-sharded",
                                                              "generated/mamba1-bias-k3",
                                                              "generated/mamba1-odd",
                                                              "generated/mamba1-k1"),
                                            ::testing::Values(1, 2)),
                         fixture_test_name);

TEST(Fixtures, SessionsShareOneModel) {
  const Expected e("mamba1-tiny");
  auto model = Model::load(fixture_dir("mamba1-tiny"));
  ASSERT_TRUE(model.ok());
  auto a = Session::create(model.value()), b = Session::create(model.value());
  ASSERT_TRUE(a.ok() && b.ok());
  const auto ids = e.ids("input_ids");
  const size_t V = size_t(model.value()->config().vocab_size);
  // Interleave the two sessions token by token: neither may disturb the other.
  for (size_t t = 0; t < ids.size(); ++t) {
    ASSERT_TRUE((*a)->step(ids[t]).ok());
    ASSERT_TRUE((*b)->step(ids[t]).ok());
  }
  const auto want = e.f32("prefill_logits");
  EXPECT_TRUE(all_close((*a)->logits(), want.data() + (ids.size() - 1) * V, V));
  EXPECT_TRUE(all_close((*b)->logits(), want.data() + (ids.size() - 1) * V, V));
}

TEST(Fixtures, RequiredBytesIsWhatCreateAllocates) {
  auto model = Model::load(fixture_dir("mamba1-tiny"));
  ASSERT_TRUE(model.ok());
  for (int chunk : {1, 16, 256}) {
    SessionLimits lim;
    lim.prefill_chunk = chunk;
    lim.n_threads = 2;
    const size_t need = Session::required_bytes(*model.value(), lim);
    auto s = Session::create(model.value(), lim);
    ASSERT_TRUE(s.ok());
    EXPECT_EQ((*s)->bytes(), need);
    EXPECT_GT(need, 0u);
  }
}

// The tools end to end: mamba-logits (prefill + steps) and mamba-generate (greedy ids).
std::vector<float> read_npy_f32(const std::string& path, size_t* rows, size_t* cols) {
  std::ifstream f(path, std::ios::binary);
  char pre[10];
  f.read(pre, 10);
  const size_t hlen = size_t(uint8_t(pre[8])) | size_t(uint8_t(pre[9])) << 8;
  std::string header(hlen, ' ');
  f.read(header.data(), std::streamsize(hlen));
  EXPECT_NE(header.find("'descr': '<f4'"), std::string::npos) << header;
  const size_t open = header.find("'shape': (");
  *rows = std::stoul(header.substr(open + 10));
  *cols = std::stoul(header.substr(header.find(',', open) + 1));
  std::vector<float> v(*rows * *cols);
  f.read(reinterpret_cast<char*>(v.data()), std::streamsize(v.size() * 4));
  EXPECT_TRUE(f.good());
  return v;
}

std::string join(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += (s.empty() ? "" : ",") + std::to_string(id);
  return s;
}

TEST(Tools, LogitsMatchFixtureForEveryDecodeFrom) {
  const Expected e("mamba1-tiny");
  const auto ids = e.ids("input_ids");
  const auto want = e.f32("prefill_logits");
  const ScratchDir dir;  // its own: ctest runs this binary several times at once (fixtures_isa_*)
  const std::string out = dir.path() + "/logits.npy";
  for (size_t k : {size_t(0), size_t(1), size_t(7), ids.size()}) {
    const std::string cmd = program("mamba-logits") + " -m " + fixture_dir("mamba1-tiny") +
                            " --ids " + join(ids) + " --decode-from " + std::to_string(k) +
                            " --chunk 4 -t 2 --out " + out;
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    size_t rows = 0, cols = 0;
    const auto got = read_npy_f32(out, &rows, &cols);
    EXPECT_EQ(rows, ids.size());
    EXPECT_EQ(cols, 512u);
    EXPECT_TRUE(all_close(got, want)) << "--decode-from " << k;
  }
}

TEST(Tools, GenerateGreedyIds) {
  const Expected e("mamba1-tiny");
  const std::string cmd = program("mamba-generate") + " -m " + fixture_dir("mamba1-tiny") +
                          " --ids " + join(e.ids("input_ids")) + " -n 16 --temp 0";
  std::FILE* p = popen(cmd.c_str(), "r");
  ASSERT_TRUE(p);
  char line[4096] = {0};
  ASSERT_TRUE(std::fgets(line, sizeof line, p));
  EXPECT_EQ(pclose(p), 0);
  EXPECT_EQ(std::string(line), join(e.ids("greedy_ids")) + "\n");
}

}  // namespace
}  // namespace mamba::test

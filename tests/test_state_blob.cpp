// Recurrent state as a blob: save, restore and fork reproduce the logits and everything after them
// bit-exactly; a blob that is short, truncated, corrupt, of another version or from another model
// is refused with a message saying which, and leaves the session as it was.
#include <gtest/gtest.h>

#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "core/state_blob.h"
#include "mamba/mamba.h"
#include "tests/test_util.h"

namespace mamba::test {
namespace {

constexpr size_t npos = std::string::npos;

std::shared_ptr<const Model> load(const std::string& fixture) {
  auto m = Model::load(fixture_dir(fixture));
  EXPECT_TRUE(m.ok()) << m.message();
  return m.ok() ? m.value() : nullptr;
}

std::unique_ptr<Session> session(std::shared_ptr<const Model> m, int chunk = 128) {
  SessionLimits lim;
  lim.n_threads = 1;
  lim.prefill_chunk = chunk;
  auto s = Session::create(std::move(m), lim);
  EXPECT_TRUE(s.ok()) << s.message();
  return std::move(s.value());
}

std::vector<int32_t> ids(int V, size_t n, size_t salt = 0) {
  std::vector<int32_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = int32_t((i * 37 + salt * 101 + 3) % size_t(V));
  return v;
}

std::vector<uint8_t> save(const Session& s) {
  std::vector<uint8_t> blob(s.state_bytes());
  const Status st = s.save_state(blob.data(), blob.size());
  EXPECT_TRUE(st.ok()) << st.message();
  return blob;
}

// The current logits, then those after each of `steps` greedy steps, concatenated.
std::vector<float> continue_greedy(Session& s, int steps) {
  const int V = s.model().config().vocab_size;
  std::vector<float> out(s.logits(), s.logits() + V);
  for (int i = 0; i < steps; ++i) {
    const float* l = s.logits();
    int32_t best = 0;
    for (int v = 1; v < V; ++v) if (l[v] > l[best]) best = v;
    l = s.step(best).value();
    out.insert(out.end(), l, l + V);
  }
  return out;
}

::testing::AssertionResult bit_equal(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "not bit-exact";
}

class Blob : public ::testing::TestWithParam<const char*> {};

TEST_P(Blob, RestoreReproducesLogitsBitExactly) {
  auto m = load(GetParam());
  const int V = m->config().vocab_size;
  auto a = session(m);
  const std::vector<int32_t> p = ids(V, 37);
  ASSERT_TRUE(a->prefill(p.data(), p.size()).ok());
  const std::vector<uint8_t> blob = save(*a);
  EXPECT_EQ(blob.size(), a->state_bytes());
  const detail::StateShape shape = detail::state_shape(m->weights());
  EXPECT_EQ(blob.size(), 96 + sizeof(float) * (shape.n_layer * (shape.conv_floats() +
                                                                 shape.ssm_floats()) + size_t(V)));

  // Into a fresh session with other limits, and into the same session after other work.
  auto b = session(m, 5);
  ASSERT_TRUE(b->load_state(blob.data(), blob.size()).ok());
  EXPECT_EQ(b->n_past(), 37);
  const std::vector<float> want = continue_greedy(*a, 12);
  EXPECT_TRUE(bit_equal(continue_greedy(*b, 12), want));
  ASSERT_TRUE(a->load_state(blob.data(), blob.size()).ok());
  EXPECT_EQ(a->n_past(), 37);
  EXPECT_TRUE(bit_equal(continue_greedy(*a, 12), want));

  // Restore then prefill more == the same prefill after the original state.
  const std::vector<int32_t> more = ids(V, 9, 1);
  auto c = session(m);
  ASSERT_TRUE(c->load_state(blob.data(), blob.size()).ok());
  auto d = session(m);
  ASSERT_TRUE(d->prefill(p.data(), p.size()).ok());
  ASSERT_TRUE(c->prefill(more.data(), more.size()).ok());
  ASSERT_TRUE(d->prefill(more.data(), more.size()).ok());
  EXPECT_EQ(c->n_past(), 46);
  EXPECT_TRUE(bit_equal(continue_greedy(*c, 4), continue_greedy(*d, 4)));

  // The same blob, saved again from the restored session.
  auto e = session(m);
  ASSERT_TRUE(e->load_state(blob.data(), blob.size()).ok());
  EXPECT_EQ(save(*e), blob);
}

TEST_P(Blob, ForkContinuesExactly) {
  auto m = load(GetParam());
  const int V = m->config().vocab_size;
  auto a = session(m);
  const std::vector<int32_t> p = ids(V, 20, 2);
  ASSERT_TRUE(a->prefill(p.data(), p.size()).ok());
  // Into a session in a caller's buffer, of a separately loaded copy of the model.
  auto m2 = load(GetParam());
  SessionLimits lim;
  lim.n_threads = 1;
  const size_t need = Session::required_bytes(*m2, lim);
  AlignedBuffer buf = aligned_buffer(need);
  auto b = Session::create(m2, lim, buf.get(), need);
  ASSERT_TRUE(b.ok()) << b.message();
  ASSERT_TRUE((*b)->copy_state_from(*a).ok());
  EXPECT_EQ((*b)->n_past(), 20);
  EXPECT_TRUE(bit_equal(continue_greedy(**b, 6), continue_greedy(*a, 6)));
  EXPECT_TRUE(a->copy_state_from(*a).ok());
}

TEST_P(Blob, EmptyStateRoundTrips) {
  auto m = load(GetParam());
  auto a = session(m);
  const std::vector<uint8_t> blob = save(*a);
  auto b = session(m);
  const std::vector<int32_t> p = ids(m->config().vocab_size, 5);
  ASSERT_TRUE(b->prefill(p.data(), p.size()).ok());
  ASSERT_TRUE(b->load_state(blob.data(), blob.size()).ok());
  EXPECT_EQ(b->n_past(), 0);
  ASSERT_TRUE(a->prefill(p.data(), p.size()).ok());
  ASSERT_TRUE(b->prefill(p.data(), p.size()).ok());
  EXPECT_TRUE(bit_equal(continue_greedy(*a, 3), continue_greedy(*b, 3)));
}

TEST(BlobWeightTypes, RestoreIsExactForEveryWeightType) {
  for (WeightType type : {WeightType::f32, WeightType::bf16, WeightType::f16, WeightType::q8,
                          WeightType::q4}) {
    SCOPED_TRACE(weight_type_name(type));
    LoadOptions o;
    o.weights = type;
    auto m = Model::load(fixture_dir("mamba2-tiny"), o);
    ASSERT_TRUE(m.ok()) << m.message();
    auto a = session(*m);
    const std::vector<int32_t> p = ids((*m)->config().vocab_size, 15, 3);
    ASSERT_TRUE(a->prefill(p.data(), p.size()).ok());
    const std::vector<uint8_t> blob = save(*a);
    auto b = session(*m);
    ASSERT_TRUE(b->load_state(blob.data(), blob.size()).ok());
    EXPECT_TRUE(bit_equal(continue_greedy(*b, 5), continue_greedy(*a, 5)));
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Blob,
                         ::testing::Values("mamba1-tiny", "mamba2-tiny", "mamba2-groups2"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& ch : n) if (ch == '-') ch = '_';
                           return n;
                         });

// ------------------------------------------------------------------------------------------------
// Refused blobs.

struct Refusal {
  std::unique_ptr<Session> s;
  std::vector<float> before;
  int64_t n_past_before;
};

// A session with some state, and its continuation before any refused load.
Refusal victim(const std::shared_ptr<const Model>& m) {
  Refusal r{session(m), {}, 0};
  const std::vector<int32_t> p = ids(m->config().vocab_size, 11, 5);
  EXPECT_TRUE(r.s->prefill(p.data(), p.size()).ok());
  r.n_past_before = r.s->n_past();
  return r;
}

// Loads `blob` into a session, expecting a refusal mentioning `part` and no change at all.
void expect_refused(const std::shared_ptr<const Model>& m, const std::vector<uint8_t>& blob,
                    const std::string& part) {
  Refusal r = victim(m);
  auto twin = victim(m);
  const Status st = r.s->load_state(blob.data(), blob.size());
  ASSERT_FALSE(st.ok()) << "accepted a blob that should mention \"" << part << "\"";
  EXPECT_EQ(st.message().rfind("state blob: ", 0), 0u) << st.message();
  EXPECT_NE(st.message().find(part), npos) << "expected \"" << part << "\" in: " << st.message();
  EXPECT_EQ(r.s->n_past(), r.n_past_before);
  EXPECT_TRUE(bit_equal(continue_greedy(*r.s, 2), continue_greedy(*twin.s, 2)));
}

std::vector<uint8_t> state_after_prompt(const std::shared_ptr<const Model>& m) {
  auto s = session(m);
  const std::vector<int32_t> p = ids(m->config().vocab_size, 13, 7);
  EXPECT_TRUE(s->prefill(p.data(), p.size()).ok());
  return save(*s);
}

// Rewrites the checksum after an edit, so the edit itself is what is refused.
void reseal(std::vector<uint8_t>& blob) {
  const uint64_t sum = detail::hash64(blob.data() + 96, blob.size() - 96,
                                      detail::hash64(blob.data(), 88));
  for (int i = 0; i < 8; ++i) blob[size_t(88 + i)] = uint8_t(sum >> (8 * i));
}

TEST(BlobRefused, TruncatedShortOrPadded) {
  auto m = load("mamba1-tiny");
  const std::vector<uint8_t> blob = state_after_prompt(m);
  expect_refused(m, {}, "0 bytes, too short for the 96-byte header");
  expect_refused(m, std::vector<uint8_t>(blob.begin(), blob.begin() + 95), "too short");
  expect_refused(m, std::vector<uint8_t>(blob.begin(), blob.begin() + 96), "truncated");
  expect_refused(m, std::vector<uint8_t>(blob.begin(), blob.end() - 1), "truncated");
  std::vector<uint8_t> padded = blob;
  padded.push_back(0);
  expect_refused(m, padded, "truncated or padded");
  // Every prefix is refused without reading past its end (run under ASan/valgrind to see it).
  auto s = session(m);
  for (size_t n = 0; n < blob.size(); n += (n < 256 ? 1 : 61))
    ASSERT_FALSE(s->load_state(blob.data(), n).ok()) << n;
  EXPECT_FALSE(s->load_state(nullptr, 10).ok());
}

TEST(BlobRefused, CorruptBytesFailTheChecksum) {
  auto m = load("mamba2-tiny");
  const std::vector<uint8_t> blob = state_after_prompt(m);
  std::vector<uint8_t> bad = blob;
  bad[blob.size() / 2] ^= 0x10;  // one bit of the state
  expect_refused(m, bad, "corrupt: checksum");
  auto s = session(m);
  for (size_t i = 16; i < blob.size(); i += 41) {  // any byte after magic/version/size fields
    if (i >= 80 && i < 88) continue;                // (the payload size: "truncated" instead)
    bad = blob;
    bad[i] ^= 0x01;
    const Status st = s->load_state(bad.data(), bad.size());
    ASSERT_FALSE(st.ok()) << "byte " << i;
    EXPECT_NE(st.message().find("checksum"), npos) << st.message();
  }
}

TEST(BlobRefused, NotABlobOrAnotherVersion) {
  auto m = load("mamba1-tiny");
  std::vector<uint8_t> bad = state_after_prompt(m);
  bad[0] = 'X';
  expect_refused(m, bad, "not a mamba-cpp state blob");
  bad = state_after_prompt(m);
  bad[8] = 2;
  expect_refused(m, bad, "version 2; this build reads version 1");
  bad = state_after_prompt(m);
  bad[12] = 128;
  expect_refused(m, bad, "header of 128 bytes");
  bad = state_after_prompt(m);
  for (int i = 0; i < 8; ++i) bad[size_t(72 + i)] = 0xff;  // n_past = -1, correctly sealed
  reseal(bad);
  expect_refused(m, bad, "n_past -1 is negative");
}

TEST(BlobRefused, FromAnotherModel) {
  auto m1 = load("mamba1-tiny");
  auto m2 = load("mamba2-tiny");
  expect_refused(m2, state_after_prompt(m1), "from a Mamba-1 model; this model is Mamba-2");
  // Same architecture and shape, other weights (bf16-rounded copy of the same model).
  auto bf16 = load("mamba1-tiny-bf16");
  expect_refused(bf16, state_after_prompt(m1), "another model of the same shape: weight fingerprint");
  // The same checkpoint held at another weight type.
  LoadOptions q8;
  q8.weights = WeightType::q8;
  auto m1_q8 = Model::load(fixture_dir("mamba1-tiny"), q8);
  ASSERT_TRUE(m1_q8.ok()) << m1_q8.message();
  expect_refused(*m1_q8, state_after_prompt(m1),
                 "made with f32 weights; this model holds q8 weights");
  // Same architecture, another shape (2 groups: conv_dim differs).
  expect_refused(load("mamba2-groups2"), state_after_prompt(m2), "from another model: ");
  // A sealed blob whose shape field was edited is refused by shape, not read past its end.
  std::vector<uint8_t> bad = state_after_prompt(m1);
  bad[20] = uint8_t(bad[20] + 1);  // n_layer
  reseal(bad);
  expect_refused(m1, bad, "from another model: n_layer is 3 in the blob, 2 in this model");
  // copy_state_from refuses too.
  auto s1 = session(m1);
  auto s2 = session(bf16);
  EXPECT_FALSE(s2->copy_state_from(*s1).ok());
}

TEST(BlobRefused, SaveIntoTooSmallABuffer) {
  auto m = load("mamba1-tiny");
  auto s = session(m);
  std::vector<uint8_t> small(s->state_bytes() - 1);
  const Status st = s->save_state(small.data(), small.size());
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("the state needs " + std::to_string(s->state_bytes())), npos)
      << st.message();
  EXPECT_FALSE(s->save_state(nullptr, 1 << 20).ok());
}

// ------------------------------------------------------------------------------------------------
// mamba-generate --save-state / --load-state: a prompt cache.

std::string join_ids(const std::vector<int32_t>& v) {
  std::string s;
  for (int32_t id : v) s += (s.empty() ? "" : ",") + std::to_string(id);
  return s;
}

std::vector<int32_t> parse_ids(const std::string& line) {
  std::vector<int32_t> v;
  std::stringstream ss(line);
  for (std::string item; std::getline(ss, item, ',');) v.push_back(std::stoi(item));
  return v;
}

struct Cli {
  ScratchDir dir;
  std::string model;
  RunResult gen(const std::string& args) {
    const RunResult r =
        run(dir, program("mamba-generate") + " -t 1 -m " + model + " " + args);
    EXPECT_EQ(r.exit_code, 0) << args << "\n" << r.err;
    return r;
  }
};

TEST(BlobCli, LoadStateContinuesAsTheWholePromptWould) {
  for (const char* fixture : {"mamba1-tiny", "mamba2-tiny", "mamba2-groups2"}) {
    SCOPED_TRACE(fixture);
    Cli c{{}, fixture_dir(fixture)};
    const std::vector<int32_t> P = ids(512, 40, 3), X = ids(512, 7, 4);
    std::vector<int32_t> PX = P;
    PX.insert(PX.end(), X.begin(), X.end());
    const std::string F = c.dir / "p.state";
    // --chunk 16: P is prefilled in chunks that end elsewhere than in the whole prompt's run.
    const RunResult saved = c.gen("--ids " + join_ids(P) + " -n 0 --chunk 16 --save-state " + F);
    EXPECT_EQ(saved.out, "\n");
    EXPECT_NE(saved.err.find("bytes, saved in"), npos) << saved.err;
    const RunResult whole = c.gen("--ids " + join_ids(PX) + " -n 24");
    const RunResult cached = c.gen("--load-state " + F + " --ids " + join_ids(X) + " -n 24");
    EXPECT_EQ(cached.out, whole.out);
    EXPECT_NE(cached.err.find("prefill: 7 tokens"), npos) << cached.err;
    EXPECT_NE(cached.err.find("loaded in"), npos) << cached.err;
    // No prompt after the state: generation starts from the stored logits.
    EXPECT_EQ(c.gen("--load-state " + F + " -n 24").out, c.gen("--ids " + join_ids(P) + " -n 24").out);

    // Saved after generating: the state covers the generated tokens too.
    const std::string G = c.dir / "pg.state";
    const RunResult first = c.gen("--ids " + join_ids(P) + " -n 6 --save-state " + G);
    std::vector<int32_t> PGX = P;
    for (int32_t id : parse_ids(first.out)) PGX.push_back(id);
    PGX.insert(PGX.end(), X.begin(), X.end());
    EXPECT_EQ(c.gen("--load-state " + G + " --ids " + join_ids(X) + " -n 12").out,
              c.gen("--ids " + join_ids(PGX) + " -n 12").out);
  }
}

TEST(BlobCli, DefaultModelTextPromptCache) {
  Cli c{{}, std::string(MAMBA_SOURCE_DIR) + "/models/mamba2-austen"};
  const std::string F = c.dir / "austen.state";
  c.gen("-p \"It is a truth universally acknowledged, that a single man\" -n 0 --save-state " + F);
  const RunResult cached = c.gen("--load-state " + F + " -p \" in possession of a good\" -n 30");
  const RunResult whole = c.gen(
      "-p \"It is a truth universally acknowledged, that a single man in possession of a good\" -n 30");
  EXPECT_EQ(cached.out, whole.out);
  EXPECT_GT(cached.out.size(), 30u);
}

TEST(BlobCli, BadStateFilesAreRefused) {
  Cli c{{}, fixture_dir("mamba1-tiny")};
  const std::string F = c.dir / "p.state";
  c.gen("--ids 1,2,3 -n 0 --save-state " + F);
  std::string blob = read_bytes(F);
  struct Bad {
    std::string bytes, model, expect;
  };
  std::string flipped = blob;
  flipped[200] ^= 1;
  const std::vector<Bad> bad = {
      {flipped, c.model, "state blob: corrupt: checksum"},
      {blob.substr(0, 1000), c.model, "state blob: truncated"},
      {"hello", c.model, "state blob: 5 bytes, too short"},
      {blob, fixture_dir("mamba2-tiny"), "state blob: from a Mamba-1 model; this model is Mamba-2"},
      {blob, fixture_dir("mamba1-tiny-bf16"), "state blob: from another model of the same shape"},
  };
  for (const Bad& b : bad) {
    write_bytes(c.dir / "bad.state", b.bytes);
    const RunResult r = run(c.dir, program("mamba-generate") + " -t 1 -m " + b.model +
                                       " --load-state " + (c.dir / "bad.state") + " -n 3");
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find("mamba-generate: error: " + (c.dir / "bad.state") + ": " + b.expect), npos)
        << r.err;
    EXPECT_EQ(r.out, "");
  }
  const RunResult missing = run(c.dir, program("mamba-generate") + " -t 1 -m " + c.model +
                                           " --load-state " + (c.dir / "none") + " -n 3");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("cannot open"), npos) << missing.err;
  const RunResult unwritable = run(c.dir, program("mamba-generate") + " -t 1 -m " + c.model +
                                              " --ids 1 -n 0 --save-state " + (c.dir / "no/such/dir"));
  EXPECT_EQ(unwritable.exit_code, 1);
  EXPECT_NE(unwritable.err.find("cannot create"), npos) << unwritable.err;
}

}  // namespace
}  // namespace mamba::test

/* The C API (include/mamba/mamba_c.h), from C11: the mamba1-tiny fixture through prefill and greedy
 * steps (ids exactly, logits to the fixtures' tolerance), state blobs, the tokenizer round trip,
 * and the error paths (missing files, bad ids, NULL handles, buffers too small). Also built
 * against an installed package with `cc` by tests/check_install.sh. Exit status 0 = all passed. */
#include "mamba/mamba_c.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "c_expected.h"

#ifndef MAMBA_TEST_DATA
#error "MAMBA_TEST_DATA must name tests/data"
#endif

static int g_failures = 0;

#define CHECK(cond)                                                        \
  do {                                                                     \
    if (!(cond)) {                                                         \
      fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
      ++g_failures;                                                        \
    }                                                                      \
  } while (0)

/* A call that must return `want`; on a mismatch prints both codes and the last error. */
#define CHECK_STATUS(call, want)                                                          \
  do {                                                                                    \
    mamba_status got_ = (call);                                                           \
    if (got_ != (want)) {                                                                 \
      fprintf(stderr, "%s:%d: %s returned %s, expected %s (last error: %s)\n", __FILE__,  \
              __LINE__, #call, mamba_status_name(got_), mamba_status_name(want),          \
              mamba_last_error());                                                        \
      ++g_failures;                                                                       \
    }                                                                                     \
  } while (0)

#define FIXTURE MAMBA_TEST_DATA "/fixtures/mamba1-tiny"
enum { kMaxIds = 64 };

/* The fixtures' fp32 rule: |got - expected| <= 2e-4 + 1e-4 |expected| everywhere. */
static int all_close(const float* got, const float* want, size_t n) {
  size_t i;
  for (i = 0; i < n; ++i)
    if (!(fabsf(got[i] - want[i]) <= 2e-4f + 1e-4f * fabsf(want[i]))) {
      fprintf(stderr, "  logit %zu: got %g, expected %g\n", i, got[i], want[i]);
      return 0;
    }
  return 1;
}

/* An I64 tensor of the fixture as int32 ids; returns the count (0 if missing or too long). */
static size_t fixture_ids(const expected_file* e, const char* name, int32_t* out) {
  size_t nbytes = 0, i;
  const int64_t* v = (const int64_t*)expected_tensor(e, name, &nbytes);
  if (!v || nbytes / 8 > kMaxIds) return 0;
  for (i = 0; i < nbytes / 8; ++i) out[i] = (int32_t)v[i];
  return nbytes / 8;
}

/* Prefill the prompt, then greedy: sample, compare with greedy_ids/greedy_logits, step. */
static void test_greedy(const mamba_model* model, const expected_file* e) {
  int32_t prompt[kMaxIds], want[kMaxIds], got;
  const size_t n_prompt = fixture_ids(e, "input_ids", prompt);
  const size_t n_want = fixture_ids(e, "greedy_ids", want);
  size_t logits_bytes = 0, n_logits = 0, bytes = 0, i;
  const float* want_logits = (const float*)expected_tensor(e, "greedy_logits", &logits_bytes);
  const float* logits = NULL;
  mamba_session_limits lim = mamba_session_limits_default();
  mamba_session* s = NULL;
  mamba_sampler* greedy = NULL;
  int64_t n_past = -1;
  int32_t vocab = 0;

  CHECK(n_prompt == 21 && n_want == 16 && want_logits);
  if (!n_prompt || !n_want || !want_logits) return;
  CHECK(lim.prefill_chunk == 128 && lim.n_threads == 0);
  lim.prefill_chunk = 4; /* several chunks for the 21-token prompt */
  lim.n_threads = 2;
  CHECK_STATUS(mamba_session_required_bytes(model, &lim, &bytes), MAMBA_OK);
  CHECK(bytes > 0);
  CHECK_STATUS(mamba_session_create(model, &lim, &s), MAMBA_OK);
  CHECK_STATUS(mamba_session_vocab_size(s, &vocab), MAMBA_OK);
  CHECK(vocab == 512);
  CHECK(logits_bytes == n_want * (size_t)vocab * sizeof(float));
  CHECK_STATUS(mamba_sampler_create(vocab, NULL, &greedy), MAMBA_OK);
  if (!s || !greedy) return;

  CHECK_STATUS(mamba_session_prefill(s, prompt, n_prompt, &logits, &n_logits), MAMBA_OK);
  for (i = 0; i < n_want && logits; ++i) {
    CHECK(n_logits == (size_t)vocab);
    if (!all_close(logits, want_logits + i * (size_t)vocab, (size_t)vocab)) {
      fprintf(stderr, "greedy step %zu: logits differ\n", i);
      ++g_failures;
    }
    CHECK_STATUS(mamba_sampler_sample(greedy, logits, &got), MAMBA_OK);
    if (got != want[i]) {
      fprintf(stderr, "greedy step %zu: id %d, expected %d\n", i, (int)got, (int)want[i]);
      ++g_failures;
    }
    if (i + 1 < n_want) CHECK_STATUS(mamba_session_step(s, got, &logits, &n_logits), MAMBA_OK);
  }
  CHECK_STATUS(mamba_session_n_past(s, &n_past), MAMBA_OK);
  CHECK(n_past == (int64_t)(n_prompt + n_want - 1));

  /* Bad ids fail, name themselves, and leave the state alone. */
  CHECK_STATUS(mamba_session_step(s, vocab, &logits, &n_logits), MAMBA_ERR_INVALID_ARGUMENT);
  CHECK(strstr(mamba_last_error(), "512") != NULL);
  CHECK_STATUS(mamba_session_step(s, -1, &logits, &n_logits), MAMBA_ERR_INVALID_ARGUMENT);
  prompt[3] = 100000;
  CHECK_STATUS(mamba_session_prefill(s, prompt, n_prompt, &logits, &n_logits),
               MAMBA_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(mamba_session_n_past(s, &n_past), MAMBA_OK);
  CHECK(n_past == (int64_t)(n_prompt + n_want - 1));

  CHECK_STATUS(mamba_session_reset(s), MAMBA_OK);
  CHECK_STATUS(mamba_session_n_past(s, &n_past), MAMBA_OK);
  CHECK(n_past == 0);
  mamba_sampler_free(greedy);
  mamba_session_free(s);
}

/* save_state, two steps, load_state, the same two steps: the same logits, bit for bit. */
static void test_state_blob(const mamba_model* model) {
  static unsigned char blob[1 << 20];
  static float first[4096];
  const int32_t ids[3] = {5, 6, 7};
  const float* logits = NULL;
  size_t n_logits = 0, bytes = 0;
  mamba_session* s = NULL;

  CHECK_STATUS(mamba_session_create(model, NULL, &s), MAMBA_OK);
  if (!s) return;
  CHECK_STATUS(mamba_session_prefill(s, ids, 3, &logits, &n_logits), MAMBA_OK);
  CHECK_STATUS(mamba_session_state_bytes(s, &bytes), MAMBA_OK);
  CHECK(bytes > 0 && bytes <= sizeof blob && n_logits <= 4096);
  if (!(bytes > 0 && bytes <= sizeof blob && n_logits <= 4096)) return;
  CHECK_STATUS(mamba_session_save_state(s, blob, bytes - 1), MAMBA_ERR_BUFFER_TOO_SMALL);
  CHECK_STATUS(mamba_session_save_state(s, blob, bytes), MAMBA_OK);
  CHECK_STATUS(mamba_session_step(s, 9, &logits, &n_logits), MAMBA_OK);
  CHECK_STATUS(mamba_session_step(s, 10, &logits, &n_logits), MAMBA_OK);
  memcpy(first, logits, n_logits * sizeof(float));
  CHECK_STATUS(mamba_session_load_state(s, blob, bytes - 1), MAMBA_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(mamba_session_load_state(s, blob, bytes), MAMBA_OK);
  CHECK_STATUS(mamba_session_step(s, 9, &logits, &n_logits), MAMBA_OK);
  CHECK_STATUS(mamba_session_step(s, 10, &logits, &n_logits), MAMBA_OK);
  CHECK(memcmp(first, logits, n_logits * sizeof(float)) == 0);
  mamba_session_free(s);
}

/* "Hello world" <-> 12092,1533 with the mamba-130m-hf tokenizer, with size queries. */
static void test_tokenizer(void) {
  const char* text = "Hello world";
  mamba_tokenizer* tok = NULL;
  int32_t ids[8] = {0};
  const int32_t bad = -1;
  char out[32];
  size_t n = 0;

  CHECK_STATUS(mamba_tokenizer_load(MAMBA_TEST_DATA "/tokenizer/mamba-130m-hf", &tok), MAMBA_OK);
  if (!tok) return;
  CHECK_STATUS(mamba_tokenizer_encode(tok, text, strlen(text), NULL, 0, &n), MAMBA_OK);
  CHECK(n == 2);
  CHECK_STATUS(mamba_tokenizer_encode(tok, text, strlen(text), ids, 1, &n),
               MAMBA_ERR_BUFFER_TOO_SMALL);
  CHECK(n == 2);
  CHECK_STATUS(mamba_tokenizer_encode(tok, text, strlen(text), ids, 8, &n), MAMBA_OK);
  CHECK(n == 2 && ids[0] == 12092 && ids[1] == 1533);

  CHECK_STATUS(mamba_tokenizer_decode(tok, ids, 2, NULL, 0, &n), MAMBA_OK);
  CHECK(n == strlen(text));
  CHECK_STATUS(mamba_tokenizer_decode(tok, ids, 2, out, strlen(text), &n),
               MAMBA_ERR_BUFFER_TOO_SMALL); /* no room for the NUL */
  CHECK_STATUS(mamba_tokenizer_decode(tok, ids, 2, out, sizeof out, &n), MAMBA_OK);
  CHECK(n == strlen(text) && strcmp(out, text) == 0);
  CHECK_STATUS(mamba_tokenizer_decode(tok, &bad, 1, out, sizeof out, &n),
               MAMBA_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(mamba_tokenizer_encode(tok, NULL, 3, ids, 8, &n), MAMBA_ERR_NULL_ARGUMENT);
  mamba_tokenizer_free(tok);
}

/* Every weight type loads and generates; sampling with min-p and a repetition penalty over
 * accepted ids picks ids in range and, seeded, repeats itself exactly. */
static void test_weight_types_and_penalty(void) {
  const char* types[] = {"f32", "bf16", "f16", "q8", "q4", NULL};
  for (int t = 0; types[t]; ++t) {
    mamba_model* model = NULL;
    mamba_session* s = NULL;
    CHECK_STATUS(mamba_model_load_as(FIXTURE, types[t], &model), MAMBA_OK);
    CHECK_STATUS(mamba_session_create(model, NULL, &s), MAMBA_OK);
    if (!s) { mamba_model_free(model); continue; }
    int32_t runs[2][16];
    for (int run = 0; run < 2; ++run) {
      mamba_sampler_params p = mamba_sampler_params_default();
      mamba_sampler* sampler = NULL;
      const int32_t prompt[3] = {1, 2, 3};
      const float* logits = NULL;
      size_t n = 0;
      p.temperature = 0.8f;
      p.min_p = 0.05f;
      p.repetition_penalty = 1.3f;
      p.repeat_last_n = 8;
      p.seed = 7;
      CHECK_STATUS(mamba_sampler_create(512, &p, &sampler), MAMBA_OK);
      CHECK_STATUS(mamba_session_reset(s), MAMBA_OK);
      CHECK_STATUS(mamba_session_prefill(s, prompt, 3, &logits, &n), MAMBA_OK);
      for (int i = 0; i < 3; ++i) CHECK_STATUS(mamba_sampler_accept(sampler, prompt[i]), MAMBA_OK);
      for (int i = 0; i < 16 && logits; ++i) {
        int32_t id = -1;
        CHECK_STATUS(mamba_sampler_sample(sampler, logits, &id), MAMBA_OK);
        CHECK(id >= 0 && id < 512);
        runs[run][i] = id;
        CHECK_STATUS(mamba_sampler_accept(sampler, id), MAMBA_OK);
        CHECK_STATUS(mamba_session_step(s, id, &logits, &n), MAMBA_OK);
      }
      mamba_sampler_free(sampler);
    }
    CHECK(memcmp(runs[0], runs[1], sizeof runs[0]) == 0);
    mamba_session_free(s);
    mamba_model_free(model);
  }
}

/* Failures that must come back as codes with messages, never crashes. */
static void test_errors(const mamba_model* model) {
  mamba_model* missing = NULL;
  mamba_tokenizer* tok = NULL;
  mamba_session* s = NULL;
  mamba_sampler* sampler = NULL;
  mamba_session_limits lim = mamba_session_limits_default();
  mamba_sampler_params params = mamba_sampler_params_default();
  const float* logits = NULL;
  size_t n = 0;
  int32_t id = 0;
  int64_t n_past = 0;

  CHECK_STATUS(mamba_model_load(MAMBA_TEST_DATA "/no-such-model", &missing), MAMBA_ERR_LOAD);
  CHECK(missing == NULL);
  CHECK(strstr(mamba_last_error(), "no-such-model") != NULL);
  CHECK_STATUS(mamba_tokenizer_load(MAMBA_TEST_DATA "/no-such-tokenizer", &tok), MAMBA_ERR_LOAD);
  CHECK(tok == NULL);

  CHECK_STATUS(mamba_model_load(NULL, &missing), MAMBA_ERR_NULL_ARGUMENT);
  CHECK(strstr(mamba_last_error(), "mamba_model_load") != NULL);
  CHECK_STATUS(mamba_model_load(FIXTURE, NULL), MAMBA_ERR_NULL_ARGUMENT);
  CHECK_STATUS(mamba_model_vocab_size(NULL, &id), MAMBA_ERR_NULL_ARGUMENT);
  CHECK_STATUS(mamba_session_create(NULL, NULL, &s), MAMBA_ERR_NULL_ARGUMENT);
  CHECK_STATUS(mamba_session_prefill(NULL, &id, 1, &logits, &n), MAMBA_ERR_NULL_ARGUMENT);
  CHECK_STATUS(mamba_session_step(NULL, 0, &logits, &n), MAMBA_ERR_NULL_ARGUMENT);
  CHECK(strstr(mamba_last_error(), "session") != NULL);
  CHECK_STATUS(mamba_session_n_past(NULL, &n_past), MAMBA_ERR_NULL_ARGUMENT);
  CHECK_STATUS(mamba_session_save_state(NULL, &id, sizeof id), MAMBA_ERR_NULL_ARGUMENT);
  CHECK_STATUS(mamba_session_load_state(NULL, &id, sizeof id), MAMBA_ERR_NULL_ARGUMENT);
  CHECK_STATUS(mamba_sampler_sample(NULL, logits, &id), MAMBA_ERR_NULL_ARGUMENT);
  CHECK_STATUS(mamba_tokenizer_encode(NULL, "a", 1, NULL, 0, &n), MAMBA_ERR_NULL_ARGUMENT);
  CHECK_STATUS(mamba_tokenizer_decode(NULL, &id, 1, NULL, 0, &n), MAMBA_ERR_NULL_ARGUMENT);
  mamba_model_free(NULL);
  mamba_session_free(NULL);
  mamba_sampler_free(NULL);
  mamba_tokenizer_free(NULL);

  lim.prefill_chunk = 0;
  CHECK_STATUS(mamba_session_required_bytes(model, &lim, &n), MAMBA_ERR_INVALID_ARGUMENT);
  CHECK(strstr(mamba_last_error(), "prefill_chunk") != NULL);
  CHECK_STATUS(mamba_session_create(model, &lim, &s), MAMBA_ERR_INVALID_ARGUMENT);
  CHECK(s == NULL);

  CHECK_STATUS(mamba_session_create(model, NULL, &s), MAMBA_OK);
  if (s) {
    CHECK_STATUS(mamba_session_prefill(s, NULL, 1, &logits, &n), MAMBA_ERR_NULL_ARGUMENT);
    CHECK_STATUS(mamba_session_step(s, 0, NULL, &n), MAMBA_ERR_NULL_ARGUMENT);
    CHECK_STATUS(mamba_session_load_state(s, "garbage", 7), MAMBA_ERR_INVALID_ARGUMENT);
    mamba_session_free(s);
  }

  CHECK_STATUS(mamba_sampler_create(0, NULL, &sampler), MAMBA_ERR_INVALID_ARGUMENT);
  params.top_p = 2.0f;
  CHECK_STATUS(mamba_sampler_create(512, &params, &sampler), MAMBA_ERR_INVALID_ARGUMENT);
  CHECK(strstr(mamba_last_error(), "top_p") != NULL);
  CHECK(sampler == NULL);
  params = mamba_sampler_params_default();
  CHECK_STATUS(mamba_sampler_create(512, &params, &sampler), MAMBA_OK);
  CHECK_STATUS(mamba_sampler_sample(sampler, NULL, &id), MAMBA_ERR_NULL_ARGUMENT);
  CHECK_STATUS(mamba_sampler_accept(sampler, 512), MAMBA_ERR_INVALID_ARGUMENT);
  CHECK(strstr(mamba_last_error(), "512") != NULL);
  CHECK_STATUS(mamba_sampler_accept(sampler, -1), MAMBA_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(mamba_sampler_accept(NULL, 0), MAMBA_ERR_NULL_ARGUMENT);
  mamba_sampler_free(sampler);

  CHECK_STATUS(mamba_model_load_as(FIXTURE, "q9", &missing), MAMBA_ERR_INVALID_ARGUMENT);
  CHECK(missing == NULL);
  CHECK(strstr(mamba_last_error(), "q9") != NULL);
  CHECK_STATUS(mamba_model_load_as(NULL, "q8", &missing), MAMBA_ERR_NULL_ARGUMENT);

  CHECK(strcmp(mamba_status_name(MAMBA_ERR_BUFFER_TOO_SMALL), "MAMBA_ERR_BUFFER_TOO_SMALL") == 0);
  CHECK(mamba_status_name((mamba_status)99) != NULL);
}

int main(void) {
  expected_file e;
  mamba_model* model = NULL;
  int32_t vocab = 0;

  if (!expected_open(&e, FIXTURE "/expected.safetensors")) return 1;
  CHECK_STATUS(mamba_model_load(FIXTURE, &model), MAMBA_OK);
  if (!model) return 1;
  CHECK_STATUS(mamba_model_vocab_size(model, &vocab), MAMBA_OK);
  CHECK(vocab == 512);

  test_greedy(model, &e);
  test_weight_types_and_penalty();
  test_state_blob(model);
  test_tokenizer();
  test_errors(model);

  mamba_model_free(model);
  expected_close(&e);
  if (g_failures) {
    fprintf(stderr, "test_c_api: %d check(s) failed\n", g_failures);
    return 1;
  }
  printf("test_c_api: all checks passed\n");
  return 0;
}

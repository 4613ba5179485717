// The C API (include/mamba/mamba_c.h) over the C++ API: each handle holds the C++ object, each
// function checks its pointers, forwards, and turns a failed Status into a code plus the
// thread-local message. Every entry point runs inside guard(), so no exception (std::bad_alloc
// from an allocating call, say) reaches a C caller; try costs nothing on the path that succeeds.
#include "mamba/mamba_c.h"

#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <utility>

#include "mamba/model.h"
#include "mamba/sampler.h"
#include "mamba/session.h"
#include "mamba/tokenizer.h"

struct mamba_model {
  std::shared_ptr<const mamba::Model> model;
};
struct mamba_session {
  std::unique_ptr<mamba::Session> session;
  size_t vocab = 0;
};
struct mamba_sampler {
  mamba::Sampler sampler;
  int32_t vocab_size = 0;  // for accept()'s range check
};
struct mamba_tokenizer {
  std::shared_ptr<const mamba::Tokenizer> tokenizer;
};

namespace {

// Per thread, so concurrent callers never see each other's messages and no lock is needed.
thread_local std::string g_last_error;

mamba_status fail(mamba_status code, const std::string& message) {
  try {
    g_last_error = message;
  } catch (...) {  // no memory for the message: keep the code, say so without allocating
    g_last_error.clear();
    return MAMBA_ERR_OUT_OF_MEMORY;
  }
  return code;
}

mamba_status fail(mamba_status code, const mamba::Status& status) {
  return fail(code, status.message());
}

mamba_status null_argument(const char* function, const char* argument) {
  return fail(MAMBA_ERR_NULL_ARGUMENT, std::string(function) + ": " + argument + " is NULL");
}

// body(fn) runs with fn = the C function's name (for messages; __func__ inside a lambda would
// say "operator()").
template <class F>
mamba_status guard(const char* function, F&& body) noexcept {
  try {
    return body(function);
  } catch (const std::bad_alloc&) {
    return fail(MAMBA_ERR_OUT_OF_MEMORY, std::string(function) + ": out of memory");
  } catch (const std::exception& e) {
    return fail(MAMBA_ERR_INTERNAL, std::string(function) + ": " + e.what());
  } catch (...) {
    return fail(MAMBA_ERR_INTERNAL, std::string(function) + ": unknown exception");
  }
}

// Null checks inside guard's body, naming the function and the argument.
#define MAMBA_C_REQUIRE(arg) \
  if (!(arg)) return null_argument(fn, #arg)

mamba::SessionLimits to_limits(const mamba_session_limits* limits) {
  mamba::SessionLimits lim;
  if (limits) {
    lim.prefill_chunk = limits->prefill_chunk;
    lim.n_threads = limits->n_threads;
  }
  return lim;
}

// A new handle around a created object, or the code and message of why there is none.
template <class Handle, class T>
mamba_status new_handle(mamba::Result<T>&& r, mamba_status error, Handle** out) {
  if (!r.ok()) return fail(error, r.status());
  *out = new Handle{std::move(r.value())};
  return MAMBA_OK;
}

// The getters: handle and out checked, then *out = value(*handle).
template <class Handle, class T, class F>
mamba_status get(const char* function, const char* handle_name, const Handle* handle, T* out,
                 F value) {
  return guard(function, [&](const char* fn) {
    if (!handle) return null_argument(fn, handle_name);
    MAMBA_C_REQUIRE(out);
    *out = value(*handle);
    return MAMBA_OK;
  });
}

// Logits results of prefill/step, shared by both.
mamba_status give_logits(const mamba_session* s, const mamba::Result<const float*>& r,
                         const float** logits, size_t* n_logits) {
  if (!r.ok()) return fail(MAMBA_ERR_INVALID_ARGUMENT, r.status());
  *logits = r.value();
  *n_logits = s->vocab;
  return MAMBA_OK;
}

// The encode/decode contract: report the size n; copy `needed` elements of src if they fit; a
// NULL buffer of capacity 0 is a size query.
template <class T>
mamba_status copy_out(const char* fn, const T* src, size_t n, size_t needed, T* dst,
                      size_t capacity, size_t* size_out) {
  *size_out = n;
  if (!dst && capacity == 0) return MAMBA_OK;
  if (!dst) return null_argument(fn, "the output buffer (capacity > 0)");
  if (capacity < needed)
    return fail(MAMBA_ERR_BUFFER_TOO_SMALL, std::string(fn) + ": the buffer holds " +
                                                std::to_string(capacity) + ", " +
                                                std::to_string(needed) + " needed");
  if (needed) std::memcpy(dst, src, needed * sizeof(T));
  return MAMBA_OK;
}

}  // namespace

extern "C" {

const char* mamba_status_name(int status) {
  switch (status) {
    case MAMBA_OK: return "MAMBA_OK";
    case MAMBA_ERR_NULL_ARGUMENT: return "MAMBA_ERR_NULL_ARGUMENT";
    case MAMBA_ERR_INVALID_ARGUMENT: return "MAMBA_ERR_INVALID_ARGUMENT";
    case MAMBA_ERR_LOAD: return "MAMBA_ERR_LOAD";
    case MAMBA_ERR_BUFFER_TOO_SMALL: return "MAMBA_ERR_BUFFER_TOO_SMALL";
    case MAMBA_ERR_OUT_OF_MEMORY: return "MAMBA_ERR_OUT_OF_MEMORY";
    case MAMBA_ERR_INTERNAL: return "MAMBA_ERR_INTERNAL";
  }
  return "unknown mamba_status";
}

const char* mamba_last_error(void) { return g_last_error.c_str(); }

// --- model ---------------------------------------------------------------------------------------

mamba_status mamba_model_load(const char* dir, mamba_model** out) {
  return guard(__func__, [&](const char* fn) {
    MAMBA_C_REQUIRE(dir);
    MAMBA_C_REQUIRE(out);
    return new_handle(mamba::Model::load(dir), MAMBA_ERR_LOAD, out);
  });
}

mamba_status mamba_model_load_as(const char* dir, const char* weight_type, mamba_model** out) {
  return guard(__func__, [&](const char* fn) {
    MAMBA_C_REQUIRE(dir);
    MAMBA_C_REQUIRE(out);
    mamba::LoadOptions options;
    if (weight_type) {
      auto type = mamba::parse_weight_type(weight_type);
      if (!type.ok()) return fail(MAMBA_ERR_INVALID_ARGUMENT, std::string(fn) + ": " + type.message());
      options.weights = *type;
    }
    return new_handle(mamba::Model::load(dir, options), MAMBA_ERR_LOAD, out);
  });
}

void mamba_model_free(mamba_model* model) { delete model; }

mamba_status mamba_model_vocab_size(const mamba_model* model, int32_t* out) {
  return get(__func__, "model", model, out, [](const mamba_model& m) {
    return int32_t(m.model->config().vocab_size);
  });
}

// --- session -------------------------------------------------------------------------------------

mamba_session_limits mamba_session_limits_default(void) {
  const mamba::SessionLimits lim;
  return mamba_session_limits{lim.prefill_chunk, lim.n_threads};
}

mamba_status mamba_session_required_bytes(const mamba_model* model,
                                          const mamba_session_limits* limits, size_t* out) {
  return guard(__func__, [&](const char* fn) {
    MAMBA_C_REQUIRE(model);
    MAMBA_C_REQUIRE(out);
    const size_t bytes = mamba::Session::required_bytes(*model->model, to_limits(limits));
    if (bytes == 0)  // invalid limits: create() words why
      return fail(MAMBA_ERR_INVALID_ARGUMENT,
                  mamba::Session::create(model->model, to_limits(limits)).status());
    *out = bytes;
    return MAMBA_OK;
  });
}

mamba_status mamba_session_create(const mamba_model* model, const mamba_session_limits* limits,
                                  mamba_session** out) {
  return guard(__func__, [&](const char* fn) {
    MAMBA_C_REQUIRE(model);
    MAMBA_C_REQUIRE(out);
    auto r = mamba::Session::create(model->model, to_limits(limits));
    if (!r.ok()) return fail(MAMBA_ERR_INVALID_ARGUMENT, r.status());
    const size_t vocab = size_t(model->model->config().vocab_size);
    *out = new mamba_session{std::move(r.value()), vocab};
    return MAMBA_OK;
  });
}

void mamba_session_free(mamba_session* session) { delete session; }

mamba_status mamba_session_prefill(mamba_session* session, const int32_t* ids, size_t n,
                                   const float** logits, size_t* n_logits) {
  return guard(__func__, [&](const char* fn) {
    MAMBA_C_REQUIRE(session);
    MAMBA_C_REQUIRE(ids);
    MAMBA_C_REQUIRE(logits);
    MAMBA_C_REQUIRE(n_logits);
    return give_logits(session, session->session->prefill(ids, n), logits, n_logits);
  });
}

mamba_status mamba_session_step(mamba_session* session, int32_t id, const float** logits,
                                size_t* n_logits) {
  return guard(__func__, [&](const char* fn) {
    MAMBA_C_REQUIRE(session);
    MAMBA_C_REQUIRE(logits);
    MAMBA_C_REQUIRE(n_logits);
    return give_logits(session, session->session->step(id), logits, n_logits);
  });
}

mamba_status mamba_session_vocab_size(const mamba_session* session, int32_t* out) {
  return get(__func__, "session", session, out,
             [](const mamba_session& s) { return int32_t(s.vocab); });
}

mamba_status mamba_session_n_past(const mamba_session* session, int64_t* out) {
  return get(__func__, "session", session, out,
             [](const mamba_session& s) { return s.session->n_past(); });
}

mamba_status mamba_session_reset(mamba_session* session) {
  return guard(__func__, [&](const char* fn) {
    MAMBA_C_REQUIRE(session);
    session->session->reset();
    return MAMBA_OK;
  });
}

mamba_status mamba_session_state_bytes(const mamba_session* session, size_t* out) {
  return get(__func__, "session", session, out,
             [](const mamba_session& s) { return s.session->state_bytes(); });
}

mamba_status mamba_session_save_state(const mamba_session* session, void* dst, size_t size) {
  return guard(__func__, [&](const char* fn) {
    MAMBA_C_REQUIRE(session);
    MAMBA_C_REQUIRE(dst);
    const mamba::Status st = session->session->save_state(dst, size);
    if (!st.ok()) return fail(MAMBA_ERR_BUFFER_TOO_SMALL, st);  // its only failure
    return MAMBA_OK;
  });
}

mamba_status mamba_session_load_state(mamba_session* session, const void* src, size_t size) {
  return guard(__func__, [&](const char* fn) {
    MAMBA_C_REQUIRE(session);
    MAMBA_C_REQUIRE(src);
    const mamba::Status st = session->session->load_state(src, size);
    if (!st.ok()) return fail(MAMBA_ERR_INVALID_ARGUMENT, st);
    return MAMBA_OK;
  });
}

// --- sampler -------------------------------------------------------------------------------------

mamba_sampler_params mamba_sampler_params_default(void) {
  const mamba::SamplerParams p;
  return mamba_sampler_params{p.temperature, p.top_k, p.top_p, p.min_p, p.repetition_penalty,
                              p.repeat_last_n, p.seed};
}

mamba_status mamba_sampler_create(int32_t vocab_size, const mamba_sampler_params* params,
                                  mamba_sampler** out) {
  return guard(__func__, [&](const char* fn) {
    MAMBA_C_REQUIRE(out);
    const mamba_sampler_params c = params ? *params : mamba_sampler_params_default();
    mamba::SamplerParams p;
    p.temperature = c.temperature;
    p.top_k = c.top_k;
    p.top_p = c.top_p;
    p.min_p = c.min_p;
    p.repetition_penalty = c.repetition_penalty;
    p.repeat_last_n = c.repeat_last_n;
    p.seed = c.seed;
    const mamba_status st = new_handle(mamba::Sampler::create(vocab_size, p), MAMBA_ERR_INVALID_ARGUMENT, out);
    if (st == MAMBA_OK) (*out)->vocab_size = vocab_size;
    return st;
  });
}

mamba_status mamba_sampler_sample(mamba_sampler* sampler, const float* logits, int32_t* out_id) {
  return guard(__func__, [&](const char* fn) {
    MAMBA_C_REQUIRE(sampler);
    MAMBA_C_REQUIRE(logits);
    MAMBA_C_REQUIRE(out_id);
    *out_id = sampler->sampler.sample(logits);
    return MAMBA_OK;
  });
}

mamba_status mamba_sampler_accept(mamba_sampler* sampler, int32_t id) {
  return guard(__func__, [&](const char* fn) {
    MAMBA_C_REQUIRE(sampler);
    if (id < 0 || id >= sampler->vocab_size)
      return fail(MAMBA_ERR_INVALID_ARGUMENT,
                  std::string(fn) + ": id " + std::to_string(id) + " is outside the vocabulary [0, " +
                      std::to_string(sampler->vocab_size) + ")");
    sampler->sampler.accept(id);
    return MAMBA_OK;
  });
}

void mamba_sampler_free(mamba_sampler* sampler) { delete sampler; }

// --- tokenizer -----------------------------------------------------------------------------------

mamba_status mamba_tokenizer_load(const char* path, mamba_tokenizer** out) {
  return guard(__func__, [&](const char* fn) {
    MAMBA_C_REQUIRE(path);
    MAMBA_C_REQUIRE(out);
    return new_handle(mamba::Tokenizer::load(path), MAMBA_ERR_LOAD, out);
  });
}

void mamba_tokenizer_free(mamba_tokenizer* tokenizer) { delete tokenizer; }

mamba_status mamba_tokenizer_encode(const mamba_tokenizer* tokenizer, const char* text,
                                    size_t text_len, int32_t* ids, size_t capacity,
                                    size_t* n_ids) {
  return guard(__func__, [&](const char* fn) {
    MAMBA_C_REQUIRE(tokenizer);
    MAMBA_C_REQUIRE(text || text_len == 0);
    MAMBA_C_REQUIRE(n_ids);
    auto r = tokenizer->tokenizer->encode(std::string_view(text, text_len));
    if (!r.ok()) return fail(MAMBA_ERR_INVALID_ARGUMENT, r.status());
    const auto& v = r.value();
    return copy_out(fn, v.data(), v.size(), v.size(), ids, capacity, n_ids);
  });
}

mamba_status mamba_tokenizer_decode(const mamba_tokenizer* tokenizer, const int32_t* ids,
                                    size_t n, char* text, size_t capacity, size_t* text_len) {
  return guard(__func__, [&](const char* fn) {
    MAMBA_C_REQUIRE(tokenizer);
    MAMBA_C_REQUIRE(ids || n == 0);
    MAMBA_C_REQUIRE(text_len);
    auto r = tokenizer->tokenizer->decode(ids, n);
    if (!r.ok()) return fail(MAMBA_ERR_INVALID_ARGUMENT, r.status());
    const std::string& s = r.value();
    // size() + 1 bytes of c_str(): the text and its terminating NUL.
    return copy_out(fn, s.c_str(), s.size(), s.size() + 1, text, capacity, text_len);
  });
}

}  // extern "C"

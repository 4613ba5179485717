/* The C API of the mamba inference library: the C++ API (mamba/mamba.h) behind opaque handles, for
 * C programs and for other languages' foreign-function interfaces.
 *
 * Rules that hold for every function:
 *  - It returns a mamba_status; MAMBA_OK (0) is success. On failure mamba_last_error() gives the
 *    message (what went wrong and where), and the out-parameters are left unchanged unless said.
 *  - No C++ exception crosses it; a NULL handle or pointer, an id out of range or a buffer that is
 *    too small is an error code, never a crash.
 *  - Handles are freed with their _free function; freeing NULL does nothing. A session keeps its
 *    model alive, so the model may be freed before its sessions. A session and a sampler are not
 *    thread-safe (one per thread); models and tokenizers may be shared between threads.
 *  - mamba_session_prefill and mamba_session_step forward to mamba::Session and allocate nothing.
 */
#ifndef MAMBA_MAMBA_C_H_
#define MAMBA_MAMBA_C_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mamba_status {
  MAMBA_OK = 0,
  MAMBA_ERR_NULL_ARGUMENT = 1,     /* a handle or pointer argument was NULL */
  MAMBA_ERR_INVALID_ARGUMENT = 2,  /* refused: an id out of range, bad limits or sampler
                                      parameters, a state blob of another model, ... */
  MAMBA_ERR_LOAD = 3,              /* a model or tokenizer could not be loaded (missing,
                                      unreadable or malformed files) */
  MAMBA_ERR_BUFFER_TOO_SMALL = 4,  /* the size needed was still written to the size argument */
  MAMBA_ERR_OUT_OF_MEMORY = 5,
  MAMBA_ERR_INTERNAL = 6           /* an unexpected failure inside the library */
} mamba_status;

/* A fixed English name of a status ("MAMBA_ERR_LOAD"), for logs; any other value gives a name
 * saying it is unknown. Never NULL. (An int, so that any value a caller holds is a valid
 * argument: in C++ an enum variable outside the enumerators' range is undefined.) */
const char* mamba_status_name(int status);

/* The message of the last call on this thread that failed ("" if none has). Valid until the next
 * failing call on the same thread. */
const char* mamba_last_error(void);

typedef struct mamba_model mamba_model;
typedef struct mamba_session mamba_session;
typedef struct mamba_sampler mamba_sampler;
typedef struct mamba_tokenizer mamba_tokenizer;

/* --- model ------------------------------------------------------------------------------------ */

/* Loads a Hugging Face checkpoint directory (config.json + model.safetensors or shards), fp32
 * weights. */
mamba_status mamba_model_load(const char* dir, mamba_model** out);
/* The same with the weights held as weight_type: "f32", "bf16", "f16", "q8" or "q4" (README
 * "Weight types"; converted at load); NULL means "f32". An unknown name is
 * MAMBA_ERR_INVALID_ARGUMENT. */
mamba_status mamba_model_load_as(const char* dir, const char* weight_type, mamba_model** out);
void mamba_model_free(mamba_model* model);
mamba_status mamba_model_vocab_size(const mamba_model* model, int32_t* out);

/* --- session ---------------------------------------------------------------------------------- */

typedef struct mamba_session_limits {
  int32_t prefill_chunk; /* tokens per prefill pass (longer prompts take several); default 128 */
  int32_t n_threads;     /* 0: OMP_NUM_THREADS, else all cores */
} mamba_session_limits;

/* The defaults, as mamba::SessionLimits has them. Passing NULL limits means the same. */
mamba_session_limits mamba_session_limits_default(void);

/* Bytes mamba_session_create will allocate for this model and these limits (its only
 * allocation). */
mamba_status mamba_session_required_bytes(const mamba_model* model,
                                          const mamba_session_limits* limits, size_t* out);
mamba_status mamba_session_create(const mamba_model* model, const mamba_session_limits* limits,
                                  mamba_session** out);
void mamba_session_free(mamba_session* session);

/* Runs n ids through the model, continuing from the current state. *logits receives the logits
 * after the last id (vocab size floats, *n_logits of them; owned by the session, valid until its
 * next call). An id out of range fails and leaves the state as it was. */
mamba_status mamba_session_prefill(mamba_session* session, const int32_t* ids, size_t n,
                                   const float** logits, size_t* n_logits);
/* One id through the recurrent path; logits as for prefill. */
mamba_status mamba_session_step(mamba_session* session, int32_t id, const float** logits,
                                size_t* n_logits);
mamba_status mamba_session_vocab_size(const mamba_session* session, int32_t* out);
/* Tokens consumed since creation or the last reset. */
mamba_status mamba_session_n_past(const mamba_session* session, int64_t* out);
mamba_status mamba_session_reset(mamba_session* session);

/* The recurrent state as a blob (see README "State blobs"): its size, then save/load. Loading a
 * blob that is short, corrupt or of another model fails and changes nothing. */
mamba_status mamba_session_state_bytes(const mamba_session* session, size_t* out);
mamba_status mamba_session_save_state(const mamba_session* session, void* dst, size_t size);
mamba_status mamba_session_load_state(mamba_session* session, const void* src, size_t size);

/* --- sampler ---------------------------------------------------------------------------------- */

typedef struct mamba_sampler_params {
  float temperature;        /* 0: greedy (argmax) */
  int32_t top_k;            /* 0: all tokens */
  float top_p;              /* 1: no nucleus cut */
  float min_p;              /* drop tokens less likely than min_p * the most likely; 0: off */
  float repetition_penalty; /* over the last repeat_last_n accepted ids (HF's rule); 1: off */
  int32_t repeat_last_n;
  uint64_t seed;
} mamba_sampler_params;

/* Greedy: temperature 0, top_k 0, top_p 1, min_p 0, repetition_penalty 1 (repeat_last_n 64),
 * seed 0. Passing NULL params means the same. Start from this and change fields, so code keeps
 * working when fields are added. */
mamba_sampler_params mamba_sampler_params_default(void);
mamba_status mamba_sampler_create(int32_t vocab_size, const mamba_sampler_params* params,
                                  mamba_sampler** out);
/* Picks an id from logits [vocab_size] (as prefill/step return them). Allocates nothing. */
mamba_status mamba_sampler_sample(mamba_sampler* sampler, const float* logits, int32_t* out_id);
/* Records an id of the sequence (prompt ids and each generated one) for the repetition penalty.
 * An id outside [0, vocab_size) is MAMBA_ERR_INVALID_ARGUMENT. Allocates nothing. */
mamba_status mamba_sampler_accept(mamba_sampler* sampler, int32_t id);
void mamba_sampler_free(mamba_sampler* sampler);

/* --- tokenizer -------------------------------------------------------------------------------- */

/* A model directory or one tokenizer file (tokenizer.json: byte-level BPE; tokenizer.model:
 * SentencePiece); see mamba/tokenizer.h. */
mamba_status mamba_tokenizer_load(const char* path, mamba_tokenizer** out);
void mamba_tokenizer_free(mamba_tokenizer* tokenizer);

/* Text (text_len bytes, UTF-8; no BOS/EOS added) -> ids. *n_ids receives the number of ids. They
 * are written to ids[0 .. capacity) if they fit; otherwise MAMBA_ERR_BUFFER_TOO_SMALL. ids = NULL
 * with capacity 0 only asks for the count (returns MAMBA_OK). */
mamba_status mamba_tokenizer_encode(const mamba_tokenizer* tokenizer, const char* text,
                                    size_t text_len, int32_t* ids, size_t capacity,
                                    size_t* n_ids);
/* Ids -> text. *text_len receives the text's length in bytes; the text and a terminating NUL are
 * written to text if capacity >= *text_len + 1, otherwise MAMBA_ERR_BUFFER_TOO_SMALL. text = NULL
 * with capacity 0 only asks for the length (returns MAMBA_OK). Special tokens are decoded as
 * text; an id outside the vocabulary fails naming it. */
mamba_status mamba_tokenizer_decode(const mamba_tokenizer* tokenizer, const int32_t* ids,
                                    size_t n, char* text, size_t capacity, size_t* text_len);

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif /* MAMBA_MAMBA_C_H_ */

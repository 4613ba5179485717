// Model::load: config.json -> Checkpoint -> every tensor bound by its HF name, its shape checked
// against the config, converted to the layout in core/weights.h.
#include "mamba/model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "core/quantize.h"
#include "core/weights.h"
#include "platform/error.h"
#include "platform/mapped_file.h"
#include "simd/kernels.h"

namespace mamba {

using detail::Checkpoint;
using detail::DType;
using detail::TensorView;
using platform::fail;

namespace {

// "[r, c]" of flat element i of a row-major tensor of `shape`.
std::string index_str(const std::vector<int64_t>& shape, int64_t i) {
  std::string s;
  for (size_t k = shape.size(); k-- > 0;) {
    const int64_t d = std::max<int64_t>(shape[k], 1);
    s = std::to_string(i % d) + (s.empty() ? "" : ", ") + s;
    i /= d;
  }
  return "[" + s + "]";
}

class Binder {
 public:
  Binder(detail::Weights& w) : w_(w), ck_(*w.checkpoint) {}

  // The tensor `name` with exactly `shape`; throws naming both shapes otherwise.
  const TensorView& get(const std::string& name, std::vector<int64_t> shape) {
    const TensorView* t = ck_.find(name);
    if (!t) fail(ck_.where(), ": missing tensor '", name, "'");
    if (t->shape != shape) {
      TensorView want;
      want.shape = shape;
      fail(*t->file, ": tensor '", name, "' has shape ", t->shape_str(), ", expected ",
           want.shape_str(), " from config.json");
    }
    if (t->dtype != DType::F32 && t->dtype != DType::F16 && t->dtype != DType::BF16)
      fail(*t->file, ": tensor '", name, "' has dtype ", detail::dtype_name(t->dtype),
           "; weights must be F32, F16 or BF16");
    // Non-finite weights are refused (README "Hardening"): one NaN would make every logit NaN.
    if (const int64_t i = detail::first_non_finite(*t); i >= 0) {
      float v;
      detail::to_f32(*t, size_t(i), 1, &v);
      fail(*t->file, ": tensor '", name, "' element ", i, " (", index_str(t->shape, i), ") is ",
           std::isnan(v) ? "NaN" : v > 0 ? "+inf" : "-inf", "; weights must be finite");
    }
    return *t;
  }

  // As stored, fp32: in place if the file holds aligned F32 (and the weights are f32, so the
  // mapping stays anyway), else widened into owned memory.
  const float* f32(const std::string& name, std::vector<int64_t> shape) {
    const TensorView& t = get(name, std::move(shape));
    bytes_ += size_t(t.numel()) * sizeof(float);
    if (in_place(t)) return reinterpret_cast<const float*>(t.data);
    float* dst = reinterpret_cast<float*>(alloc(size_t(t.numel()) * sizeof(float)));
    detail::to_f32(t, dst);
    ck_.release(t);
    return dst;
  }

  const float* optional_f32(bool present, const std::string& name, std::vector<int64_t> shape) {
    return present ? f32(name, std::move(shape)) : nullptr;
  }

  // A projection [rows, cols] in the model's weight type, converted a slab of rows at a time
  // (no fp32 copy of a whole large tensor is ever made).
  simd::Matrix matrix(const std::string& name, int64_t rows, int64_t cols) {
    const TensorView& t = get(name, {rows, cols});
    simd::Matrix m{w_.type, rows, cols};
    // q8/q4 in the 16-row groups of simd/matrix.h where the kernel set reads those fastest.
    m.rows16 = m.quantized() && simd::kernels().rows16;
    bytes_ += m.bytes();
    if (in_place(t)) {
      m.data = t.data;
      return m;
    }
    m.place(alloc(m.bytes()));
    const int64_t slab_rows = std::max<int64_t>(1, (int64_t(1) << 20) / std::max<int64_t>(cols, 1));
    std::vector<float> slab(size_t(std::min(rows, slab_rows) * cols));
    for (int64_t r0 = 0; r0 < rows; r0 += slab_rows) {
      const int64_t n = std::min(slab_rows, rows - r0);
      detail::to_f32(t, size_t(r0 * cols), size_t(n * cols), slab.data());
      if (const int64_t bad = detail::convert_rows(slab.data(), m, r0, n); bad >= 0)
        fail(*t.file, ": tensor '", name, "' row ", bad, " holds ",
             m.quantized() ? "a non-finite value or a block scale" : "a value",
             " beyond what ", weight_type_name(m.type),
             " can represent (f16's largest is 65504); load it as f32 or bf16");
    }
    ck_.release(t);
    return m;
  }

  uint8_t* alloc(size_t bytes) {
    w_.owned.push_back(platform::aligned_alloc_zeroed(bytes));
    return w_.owned.back().get();
  }

  size_t bytes() const { return bytes_; }
  bool uses_mapping() const { return uses_mapping_; }

 private:
  bool in_place(const TensorView& t) {
    const bool ok = w_.type == WeightType::f32 && t.dtype == DType::F32 &&
                    reinterpret_cast<uintptr_t>(t.data) % alignof(float) == 0;
    uses_mapping_ |= ok;
    return ok;
  }

  detail::Weights& w_;
  const Checkpoint& ck_;
  size_t bytes_ = 0;
  bool uses_mapping_ = false;
};

// [rows, cols] -> [cols, rows], applying f to each element.
template <class F>
const float* transposed(Binder& b, const float* src, int64_t rows, int64_t cols, F f) {
  float* dst = reinterpret_cast<float*>(b.alloc(size_t(rows * cols) * sizeof(float)));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) dst[c * rows + r] = f(src[r * cols + c]);
  return dst;
}

void bind_mamba1_layers(detail::Weights& w, Binder& b) {
  const Config& c = w.config;
  const int64_t dm = c.d_model, d = c.d_inner, N = c.d_state, K = c.d_conv, R = c.dt_rank;
  for (int i = 0; i < c.n_layer; ++i) {
    const std::string p = "backbone.layers." + std::to_string(i) + ".";
    const std::string m = p + "mixer.";
    detail::Mamba1Layer L{};
    L.norm = b.f32(p + "norm.weight", {dm});
    L.in_proj = b.matrix(m + "in_proj.weight", 2 * d, dm);
    L.in_proj_bias = b.optional_f32(c.use_bias, m + "in_proj.bias", {2 * d});
    L.conv_w = transposed(b, b.f32(m + "conv1d.weight", {d, 1, K}), d, K, [](float v) { return v; });
    L.conv_b = b.optional_f32(c.use_conv_bias, m + "conv1d.bias", {d});
    L.x_proj = b.matrix(m + "x_proj.weight", R + 2 * N, d);
    L.dt_proj = b.matrix(m + "dt_proj.weight", d, R);
    L.dt_bias = b.f32(m + "dt_proj.bias", {d});
    L.A = transposed(b, b.f32(m + "A_log", {d, N}), d, N, [](float v) { return -std::exp(v); });
    L.D = b.f32(m + "D", {d});
    L.out_proj = b.matrix(m + "out_proj.weight", dm, d);
    L.out_proj_bias = b.optional_f32(c.use_bias, m + "out_proj.bias", {dm});
    w.mamba1_layers.push_back(L);
  }
}

void bind_mamba2_layers(detail::Weights& w, Binder& b) {
  const Config& c = w.config;
  const int64_t dm = c.d_model, d = c.d_inner, K = c.d_conv, H = c.n_heads, C = c.conv_dim();
  for (int i = 0; i < c.n_layer; ++i) {
    const std::string p = "backbone.layers." + std::to_string(i) + ".";
    const std::string m = p + "mixer.";
    detail::Mamba2Layer L{};
    // mamba_ssm checkpoints may carry a gated MLP in in_proj (d_mlp > 0; HF's never do): its
    // width follows from the tensor's rows, and out_proj must then be d_mlp wider too.
    int64_t d_mlp = 0;
    if (const TensorView* t = w.checkpoint->find(m + "in_proj.weight");
        t && t->shape.size() == 2 && t->shape[0] > d + C + H && (t->shape[0] - d - C - H) % 2 == 0)
      d_mlp = (t->shape[0] - d - C - H) / 2;
    const int64_t W = 2 * d_mlp + d + C + H;
    L.d_mlp = int(d_mlp);
    L.norm = b.f32(p + "norm.weight", {dm});
    L.in_proj = b.matrix(m + "in_proj.weight", W, dm);
    L.in_proj_bias = b.optional_f32(c.use_bias, m + "in_proj.bias", {W});
    L.conv_w = transposed(b, b.f32(m + "conv1d.weight", {C, 1, K}), C, K, [](float v) { return v; });
    L.conv_b = b.optional_f32(c.use_conv_bias, m + "conv1d.bias", {C});
    L.dt_bias = b.f32(m + "dt_bias", {H});
    L.A = transposed(b, b.f32(m + "A_log", {H}), 1, H, [](float v) { return -std::exp(v); });
    L.D = b.f32(m + "D", {H});
    L.gate_norm = b.f32(m + "norm.weight", {d});
    L.out_proj = b.matrix(m + "out_proj.weight", dm, d_mlp + d);
    L.out_proj_bias = b.optional_f32(c.use_bias, m + "out_proj.bias", {dm});
    w.mamba2_layers.push_back(L);
  }
}

void bind(detail::Weights& w) {
  const Config& c = w.config;
  Binder b(w);
  const int64_t V = c.vocab_size, dm = c.d_model;
  // Old conversions name the embedding 'backbone.embedding.weight'; HF renames it on load.
  const char* emb = w.checkpoint->find("backbone.embeddings.weight") ? "backbone.embeddings.weight"
                    : w.checkpoint->find("backbone.embedding.weight") ? "backbone.embedding.weight"
                                                                       : "backbone.embeddings.weight";
  w.embeddings = b.matrix(emb, V, dm);
  if (c.arch == Architecture::mamba1) bind_mamba1_layers(w, b);
  else bind_mamba2_layers(w, b);
  w.norm_f = b.f32("backbone.norm_f.weight", {dm});
  // A tied checkpoint may still store lm_head.weight (some conversions do); HF ties it to the
  // embeddings regardless, and so do we.
  w.lm_head = c.tie_word_embeddings ? w.embeddings : b.matrix("lm_head.weight", V, dm);
  // Decode streams every bound weight once per token, except the embedding table, of which it
  // reads one row -- unless the table is also the lm_head, which is read whole.
  const size_t table = w.embeddings.bytes();
  w.bytes_per_token = b.bytes() + table / size_t(V) - (c.tie_word_embeddings ? 0 : table);
  // Nothing points into the files any more (everything was converted): give the mapping back.
  if (!b.uses_mapping()) w.checkpoint.reset();
}

}  // namespace

Model::Model() : weights_(std::make_unique<detail::Weights>()) {}
Model::~Model() = default;

const Config& Model::config() const { return weights_->config; }
WeightType Model::weight_type() const { return weights_->type; }
size_t Model::weight_bytes() const { return weights_->bytes_per_token; }

Result<std::shared_ptr<const Model>> Model::load_with(
    const std::string& where, const std::function<Status(detail::Weights&)>& open) {
  try {
    std::shared_ptr<Model> model(new Model());
    detail::Weights& w = *model->weights_;
    if (Status st = open(w); !st.ok()) return st;
    bind(w);
    return std::shared_ptr<const Model>(std::move(model));
  } catch (const platform::LoadError& e) {
    return Status::error(e.what());
  } catch (const std::bad_alloc&) {
    return Status::error(where + ": out of memory while loading the weights");
  } catch (const std::exception& e) {  // nothing else is expected; still, never let it escape
    return Status::error(where + ": " + e.what());
  }
}

Result<std::shared_ptr<const Model>> Model::load(const std::string& dir,
                                                 const LoadOptions& options) {
  return load_with(dir, [&](detail::Weights& w) -> Status {
    if (!platform::is_directory(dir))
      fail(dir, platform::is_file(dir) ? ": is a file, not a model directory"
                                       : ": model directory does not exist");
    Result<Config> config = Config::load(dir + "/config.json");
    if (!config.ok()) return config.status();
    w.config = config.value();
    w.type = options.weights;
    w.checkpoint = std::make_unique<Checkpoint>(dir);
    return Status();
  });
}

Result<std::shared_ptr<const Model>> Model::load_from_memory(
    std::string_view config_json, const std::vector<SafetensorsRegion>& safetensors,
    const LoadOptions& options) {
  return load_with("Model::load_from_memory", [&](detail::Weights& w) -> Status {
    Result<Config> config = Config::parse(std::string(config_json), "config.json (in memory)");
    if (!config.ok()) return config.status();
    w.config = config.value();
    w.type = options.weights;
    std::vector<detail::SafetensorsBytes> files;
    for (size_t i = 0; i < safetensors.size(); ++i)
      files.push_back({static_cast<const uint8_t*>(safetensors[i].data), safetensors[i].size,
                       "safetensors region " + std::to_string(i)});
    w.checkpoint = std::make_unique<Checkpoint>(files);
    return Status();
  });
}

}  // namespace mamba

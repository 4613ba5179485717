// Model::load: config.json -> Checkpoint -> every tensor bound by its HF name, its shape checked
// against the config, converted to the layout in core/weights.h.
#include "mamba/model.h"

#include <cmath>
#include <cstring>
#include <string>

#include "core/weights.h"
#include "platform/error.h"
#include "platform/mapped_file.h"

namespace mamba {

using detail::Checkpoint;
using detail::DType;
using detail::TensorView;
using platform::fail;

namespace {

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
    bytes_ += size_t(t->numel()) * sizeof(float);
    return *t;
  }

  // As stored, fp32: in place if the file holds aligned F32, else widened into owned memory.
  const float* f32(const std::string& name, std::vector<int64_t> shape) {
    const TensorView& t = get(name, std::move(shape));
    if (t.dtype == DType::F32 && reinterpret_cast<uintptr_t>(t.data) % alignof(float) == 0)
      return reinterpret_cast<const float*>(t.data);
    float* dst = alloc(size_t(t.numel()));
    detail::to_f32(t, dst);
    return dst;
  }

  const float* optional_f32(bool present, const std::string& name, std::vector<int64_t> shape) {
    return present ? f32(name, std::move(shape)) : nullptr;
  }

  float* alloc(size_t count) {
    w_.owned.push_back(platform::aligned_alloc_zeroed(count * sizeof(float)));
    return reinterpret_cast<float*>(w_.owned.back().get());
  }

  size_t bytes() const { return bytes_; }

 private:
  detail::Weights& w_;
  const Checkpoint& ck_;
  size_t bytes_ = 0;
};

// [rows, cols] -> [cols, rows], applying f to each element.
template <class F>
const float* transposed(Binder& b, const float* src, int64_t rows, int64_t cols, F f) {
  float* dst = b.alloc(size_t(rows * cols));
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
    L.in_proj = b.f32(m + "in_proj.weight", {2 * d, dm});
    L.in_proj_bias = b.optional_f32(c.use_bias, m + "in_proj.bias", {2 * d});
    L.conv_w = transposed(b, b.f32(m + "conv1d.weight", {d, 1, K}), d, K, [](float v) { return v; });
    L.conv_b = b.optional_f32(c.use_conv_bias, m + "conv1d.bias", {d});
    L.x_proj = b.f32(m + "x_proj.weight", {R + 2 * N, d});
    L.dt_proj = b.f32(m + "dt_proj.weight", {d, R});
    L.dt_bias = b.f32(m + "dt_proj.bias", {d});
    L.A = transposed(b, b.f32(m + "A_log", {d, N}), d, N, [](float v) { return -std::exp(v); });
    L.D = b.f32(m + "D", {d});
    L.out_proj = b.f32(m + "out_proj.weight", {dm, d});
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
    L.in_proj = b.f32(m + "in_proj.weight", {W, dm});
    L.in_proj_bias = b.optional_f32(c.use_bias, m + "in_proj.bias", {W});
    L.conv_w = transposed(b, b.f32(m + "conv1d.weight", {C, 1, K}), C, K, [](float v) { return v; });
    L.conv_b = b.optional_f32(c.use_conv_bias, m + "conv1d.bias", {C});
    L.dt_bias = b.f32(m + "dt_bias", {H});
    L.A = transposed(b, b.f32(m + "A_log", {H}), 1, H, [](float v) { return -std::exp(v); });
    L.D = b.f32(m + "D", {H});
    L.gate_norm = b.f32(m + "norm.weight", {d});
    L.out_proj = b.f32(m + "out_proj.weight", {dm, d_mlp + d});
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
  w.embeddings = b.f32(emb, {V, dm});
  if (c.arch == Architecture::mamba1) bind_mamba1_layers(w, b);
  else bind_mamba2_layers(w, b);
  w.norm_f = b.f32("backbone.norm_f.weight", {dm});
  // A tied checkpoint may still store lm_head.weight (some conversions do); HF ties it to the
  // embeddings regardless, and so do we.
  w.lm_head = c.tie_word_embeddings ? w.embeddings : b.f32("lm_head.weight", {V, dm});
  // Decode streams every bound weight once per token, except the embedding table, of which it
  // reads one row -- unless the table is also the lm_head, which is read whole.
  const size_t table = size_t(V * dm) * sizeof(float);
  w.bytes_per_token = b.bytes() + size_t(dm) * sizeof(float) - (c.tie_word_embeddings ? 0 : table);
}

}  // namespace

Model::Model() : weights_(std::make_unique<detail::Weights>()) {}
Model::~Model() = default;

const Config& Model::config() const { return weights_->config; }
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

Result<std::shared_ptr<const Model>> Model::load(const std::string& dir) {
  return load_with(dir, [&](detail::Weights& w) -> Status {
    if (!platform::is_directory(dir))
      fail(dir, platform::is_file(dir) ? ": is a file, not a model directory"
                                       : ": model directory does not exist");
    Result<Config> config = Config::load(dir + "/config.json");
    if (!config.ok()) return config.status();
    w.config = config.value();
    w.checkpoint = std::make_unique<Checkpoint>(dir);
    return Status();
  });
}

Result<std::shared_ptr<const Model>> Model::load_from_memory(
    std::string_view config_json, const std::vector<SafetensorsRegion>& safetensors) {
  return load_with("Model::load_from_memory", [&](detail::Weights& w) -> Status {
    Result<Config> config = Config::parse(std::string(config_json), "config.json (in memory)");
    if (!config.ok()) return config.status();
    w.config = config.value();
    std::vector<detail::SafetensorsBytes> files;
    for (size_t i = 0; i < safetensors.size(); ++i)
      files.push_back({static_cast<const uint8_t*>(safetensors[i].data), safetensors[i].size,
                       "safetensors region " + std::to_string(i)});
    w.checkpoint = std::make_unique<Checkpoint>(files);
    return Status();
  });
}

}  // namespace mamba

#include "core/safetensors.h"

#include <algorithm>
#include <cstring>
#include <set>
#include <sstream>
#include <tuple>

#include "core/json.h"
#include "platform/error.h"
#include "simd/half.h"

namespace mamba::detail {

using platform::fail;

namespace {

constexpr uint64_t kMaxHeader = 100u << 20;  // 100 MiB of JSON is far beyond any real header

bool parse_dtype(const std::string& s, DType* out) {
  static const std::pair<const char*, DType> names[] = {
      {"F32", DType::F32}, {"F16", DType::F16}, {"BF16", DType::BF16}, {"F64", DType::F64},
      {"I64", DType::I64}, {"I32", DType::I32}, {"I16", DType::I16},   {"I8", DType::I8},
      {"U8", DType::U8},   {"BOOL", DType::BOOL}};
  for (const auto& [name, t] : names)
    if (s == name) { *out = t; return true; }
  return false;
}

uint64_t read_u64_le(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::F64: return "F64";
    case DType::I64: return "I64";
    case DType::I32: return "I32";
    case DType::I16: return "I16";
    case DType::I8: return "I8";
    case DType::U8: return "U8";
    case DType::BOOL: return "BOOL";
  }
  return "?";
}

size_t dtype_size(DType t) {
  switch (t) {
    case DType::F64: case DType::I64: return 8;
    case DType::F32: case DType::I32: return 4;
    case DType::F16: case DType::BF16: case DType::I16: return 2;
    default: return 1;
  }
}

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string TensorView::shape_str() const {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << ']';
  return os.str();
}

SafetensorsFile::SafetensorsFile(const std::string& path)
    : file_(std::make_unique<platform::MappedFile>(path)), path_(path) {
  parse(file_->data(), file_->size());
}

SafetensorsFile::SafetensorsFile(const uint8_t* data, size_t size, std::string name)
    : path_(std::move(name)) {
  if (!data && size > 0) fail(path_, ": null data pointer for ", size, " bytes");
  parse(data, size);
}

void SafetensorsFile::parse(const uint8_t* bytes, size_t size) {
  const std::string& path = path_;
  if (size < 8) fail(path, ": file is ", size, " bytes, too short for the 8-byte header length");
  const uint64_t n = read_u64_le(bytes);
  if (n > kMaxHeader) fail(path, ": header length ", n, " exceeds the limit of ", kMaxHeader, " bytes");
  if (n > size - 8)
    fail(path, ": header length ", n, " runs past the end of the file (", size, " bytes)");
  const std::string text(reinterpret_cast<const char*>(bytes + 8), size_t(n));
  const Json header = parse_python_json(text, path + " (header)");
  if (!header.is_object()) fail(path, ": header is not a JSON object");

  const uint8_t* data = bytes + 8 + n;
  const uint64_t data_size = size - 8 - n;
  std::vector<std::tuple<uint64_t, uint64_t, std::string>> ranges;  // non-empty [begin, end), tensor
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") continue;
    const std::string where = path + ": tensor '" + name + "'";
    if (!entry.is_object()) fail(where, ": entry is not an object");
    if (!entry.contains("dtype") || !entry["dtype"].is_string()) fail(where, ": missing dtype");
    TensorView t;
    t.name = name;
    t.file = &path_;
    const std::string dt = entry["dtype"].get<std::string>();
    if (!parse_dtype(dt, &t.dtype)) fail(where, ": unknown dtype '", dt, "'");
    if (!entry.contains("shape") || !entry["shape"].is_array()) fail(where, ": missing shape");
    uint64_t bytes = dtype_size(t.dtype);
    for (const Json& d : entry["shape"]) {
      if (!d.is_number_unsigned()) fail(where, ": shape ", json_brief(entry["shape"]), " has a non-integer or negative dimension");
      const uint64_t v = d.get<uint64_t>();
      if (v > (uint64_t(1) << 40) || __builtin_mul_overflow(bytes, v, &bytes))
        fail(where, ": shape ", json_brief(entry["shape"]), " is too large");
      t.shape.push_back(int64_t(v));
    }
    static const Json kNull;  // (a temporary here would deep-copy data_offsets, recursively)
    const Json& off = entry.contains("data_offsets") ? entry["data_offsets"] : kNull;
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      fail(where, ": data_offsets must be [begin, end], got ", json_brief(off));
    const uint64_t b = off[0].get<uint64_t>(), e = off[1].get<uint64_t>();
    if (b > e) fail(where, ": data_offsets [", b, ", ", e, "] end before they begin");
    if (e > data_size)
      fail(where, ": data_offsets [", b, ", ", e, "] run past the data section (", data_size, " bytes)");
    if (e - b != bytes)
      fail(where, ": data_offsets [", b, ", ", e, "] hold ", e - b, " bytes but dtype ", dt,
           " and shape ", t.shape_str(), " need ", bytes);
    t.data = data + b;
    t.bytes = size_t(bytes);
    if (bytes > 0) ranges.emplace_back(b, e, name);
    tensors_.emplace(name, std::move(t));
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i) {
    const auto& [b0, e0, name0] = ranges[i - 1];
    const auto& [b1, e1, name1] = ranges[i];
    if (b1 < e0)
      fail(path, ": the data of tensors '", name0, "' [", b0, ", ", e0, ") and '", name1, "' [", b1,
           ", ", e1, ") overlap");
  }
}

Checkpoint::Checkpoint(const std::string& dir) {
  const std::string index_path = dir + "/model.safetensors.index.json";
  const std::string single_path = dir + "/model.safetensors";
  if (platform::is_file(single_path)) {
    files_.push_back(std::make_unique<SafetensorsFile>(single_path));
    where_ = single_path;
  } else if (platform::is_file(index_path)) {
    const Json index = parse_python_json(platform::read_text_file(index_path), index_path);
    if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
      fail(index_path, ": missing object 'weight_map'");
    std::map<std::string, SafetensorsFile*> by_name;
    for (const auto& [tensor, file] : index["weight_map"].items()) {
      if (!file.is_string()) fail(index_path, ": weight_map['", tensor, "'] is not a file name");
      const std::string f = file.get<std::string>();
      if (f.empty() || f == "." || f == ".." || f.find('/') != std::string::npos ||
          f.find('\\') != std::string::npos)
        fail(index_path, ": weight_map['", tensor, "'] = \"", f,
             "\" is not a plain file name in the checkpoint directory");
      if (!by_name.count(f)) {
        const std::string p = dir + "/" + f;
        if (!platform::is_file(p))
          fail(index_path, ": shard \"", f, "\" (holding '", tensor, "') does not exist");
        files_.push_back(std::make_unique<SafetensorsFile>(p));
        by_name[f] = files_.back().get();
      }
      if (!by_name[f]->tensors().count(tensor))
        fail(index_path, ": tensor '", tensor, "' is listed in shard \"", f, "\" but that shard does not contain it");
    }
    where_ = index_path;
  } else {
    fail(dir, ": no model.safetensors or model.safetensors.index.json");
  }
  index_tensors();
}

Checkpoint::Checkpoint(const std::vector<SafetensorsBytes>& files) {
  mapped_ = false;
  if (files.empty()) fail("Model::load_from_memory: no safetensors bytes given");
  for (const SafetensorsBytes& f : files) {
    files_.push_back(std::make_unique<SafetensorsFile>(f.data, f.size, f.name));
    where_ += (where_.empty() ? "" : ", ") + f.name;
  }
  index_tensors();
}

void Checkpoint::index_tensors() {
  for (const auto& f : files_)
    for (const auto& [name, t] : f->tensors()) {
      if (index_.count(name))
        fail(f->path(), ": tensor '", name, "' also appears in ", *index_[name]->file);
      index_[name] = &t;
    }
}

const TensorView* Checkpoint::find(const std::string& name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : it->second;
}

namespace {
// Index of the first element of data [n] (of unsigned type U) whose `exponent` bits are all set
// (inf or NaN), or -1. Blocks are tested without an early exit, so the compiler vectorises the
// test (a pass over every weight at load); only a bad block is searched element by element.
template <class U>
int64_t first_all_ones(const uint8_t* data, size_t n, U exponent) {
  constexpr size_t kBlock = 4096;
  auto at = [data](size_t i) {
    U v;
    std::memcpy(&v, data + i * sizeof(U), sizeof(U));
    return v;
  };
  for (size_t b = 0; b < n; b += kBlock) {
    const size_t e = std::min(n, b + kBlock);
    U bad = 0;
    for (size_t i = b; i < e; ++i) bad |= U((at(i) & exponent) == exponent);
    if (bad)
      for (size_t i = b; i < e; ++i)
        if ((at(i) & exponent) == exponent) return int64_t(i);
  }
  return -1;
}
}  // namespace

int64_t first_non_finite(const TensorView& t) {
  const size_t n = size_t(t.numel());
  switch (t.dtype) {
    case DType::F32: return first_all_ones(t.data, n, uint32_t(0x7f800000u));
    case DType::F64: return first_all_ones(t.data, n, uint64_t(0x7ff0000000000000u));
    case DType::F16: return first_all_ones(t.data, n, uint16_t(0x7c00u));
    case DType::BF16: return first_all_ones(t.data, n, uint16_t(0x7f80u));
    default: return -1;
  }
}

void to_f32(const TensorView& t, float* dst) { to_f32(t, 0, size_t(t.numel()), dst); }

void to_f32(const TensorView& t, size_t first, size_t n, float* dst) {
  const uint8_t* src = t.data + first * dtype_size(t.dtype);
  auto widen = [&](auto convert, auto stored) {  // stored: a value of the file's element type
    for (size_t i = 0; i < n; ++i) {
      std::memcpy(&stored, src + i * sizeof(stored), sizeof(stored));
      dst[i] = convert(stored);
    }
  };
  switch (t.dtype) {
    case DType::F32: std::memcpy(dst, src, n * 4); return;
    case DType::F64: return widen([](double v) { return float(v); }, double());
    case DType::F16: return widen(simd::f16_to_f32, uint16_t());
    case DType::BF16: return widen(simd::bf16_to_f32, uint16_t());
    default:
      fail(*t.file, ": tensor '", t.name, "' has dtype ", dtype_name(t.dtype),
           "; weights must be F32, F16 or BF16");
  }
}

}  // namespace mamba::detail

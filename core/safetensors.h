// safetensors files: an 8-byte little-endian header length N, N bytes of JSON describing every
// tensor ({dtype, shape, data_offsets} relative to the data section), then the raw data. Everything
// in the header is checked against the file before any byte of data is read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "platform/mapped_file.h"

namespace mamba::detail {

enum class DType { F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL };
const char* dtype_name(DType t);
size_t dtype_size(DType t);

struct TensorView {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // inside the mapped file
  size_t bytes = 0;
  const std::string* file = nullptr;  // for error messages

  int64_t numel() const;
  std::string shape_str() const;  // "[2, 3]"
};

// One validated .safetensors file: mapped from disk, or bytes in memory that the caller keeps
// alive (tensors point into them). Throws LoadError naming the file (or `name`) and tensor.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);
  SafetensorsFile(const uint8_t* data, size_t size, std::string name);
  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  const std::string& path() const { return path_; }

 private:
  void parse(const uint8_t* data, size_t size);
  std::unique_ptr<platform::MappedFile> file_;  // null for bytes in memory
  std::string path_;
  std::map<std::string, TensorView> tensors_;
};

// The bytes of one safetensors file held in memory by the caller.
struct SafetensorsBytes {
  const uint8_t* data;
  size_t size;
  std::string name;  // for error messages
};

// The tensors of a checkpoint directory: model.safetensors, or the shards that
// model.safetensors.index.json lists (a tensor is never split across shards).
class Checkpoint {
 public:
  explicit Checkpoint(const std::string& dir);  // throws LoadError
  // The tensors of safetensors files in memory (a single file or every shard; no index needed).
  explicit Checkpoint(const std::vector<SafetensorsBytes>& files);
  const TensorView* find(const std::string& name) const;  // null if absent
  const std::string& where() const { return where_; }  // file name(s) for error messages
  // The tensor was copied out and will not be read again: let its file pages go.
  // Only pages of files this checkpoint mapped: a caller's bytes in memory are never touched (on
  // anonymous memory MADV_DONTNEED would zero them).
  void release(const TensorView& t) const {
    if (mapped_) platform::drop_pages(t.data, t.bytes);
  }

 private:
  void index_tensors();  // fills index_ from files_, rejecting a tensor found twice
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorView*> index_;
  std::string where_;
  bool mapped_ = true;  // false: the caller's bytes (load_from_memory)
};

// Index of the first NaN or infinite element of a float tensor (F32, F16, BF16, F64), or -1; -1
// for other dtypes. Reads the bit patterns only.
int64_t first_non_finite(const TensorView& t);
// Widens any float tensor to fp32 (dst holds numel() floats). Throws LoadError for other dtypes.
void to_f32(const TensorView& t, float* dst);
// The same for elements [first, first + n) of the flattened tensor.
void to_f32(const TensorView& t, size_t first, size_t n, float* dst);

}  // namespace mamba::detail

// A read-only memory map of a whole file. Readers take bounds-checked views of it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace mamba::platform {

class MappedFile {
 public:
  // Throws LoadError naming the path if it cannot be opened or mapped.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // True if [offset, offset + length) lies inside the file (overflow-safe).
  bool contains(uint64_t offset, uint64_t length) const {
    return offset <= size_ && length <= size_ - offset;
  }

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Gives back the resident pages that lie wholly inside [p, p + n) of a read-only file mapping:
// a tensor that was converted into owned memory is never read from the file again, so its pages
// need not count towards the process's memory while the rest of the checkpoint loads.
void drop_pages(const void* p, size_t n);

// The whole file as a string (small text files: config.json, index.json). Throws LoadError.
std::string read_text_file(const std::string& path);
bool is_directory(const std::string& path);
bool is_file(const std::string& path);

}  // namespace mamba::platform

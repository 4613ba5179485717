// A random checkpoint written once per test into a fresh temporary directory.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "tools/random_checkpoint.h"

namespace mamba::test {

struct RandomCheckpoint : tools::RandomCheckpoint {
  // Writes to $TMPDIR/mamba_test_<tag>_<pid> and returns the directory.
  std::string write(const std::string& tag) const {
    const std::string dir = (std::filesystem::temp_directory_path() /
                             ("mamba_test_" + tag + "_" + std::to_string(::getpid()))).string();
    const std::string err = write_to(dir);
    EXPECT_EQ(err, "");
    return dir;
  }
};

}  // namespace mamba::test

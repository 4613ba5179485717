// A random checkpoint written into a test's scratch directory (removed with it).
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "tests/test_util.h"
#include "tools/random_checkpoint.h"

namespace mamba::test {

struct RandomCheckpoint : tools::RandomCheckpoint {
  // Writes config.json and model.safetensors into `dir` and returns its path.
  std::string write(const ScratchDir& dir) const {
    const std::string err = write_to(dir.path());
    EXPECT_EQ(err, "");
    return dir.path();
  }
};

}  // namespace mamba::test

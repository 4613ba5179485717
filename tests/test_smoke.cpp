#include <gtest/gtest.h>
#include "mamba/mamba.h"
TEST(Smoke, Load) {
  auto m = mamba::Model::load("/work/shared/fixtures/mamba1-tiny");
  ASSERT_TRUE(m.ok()) << m.message();
}

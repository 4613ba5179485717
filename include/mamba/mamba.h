// The whole public API of the mamba inference library.
#pragma once

#include "mamba/config.h"
#include "mamba/model.h"
#include "mamba/sampler.h"
#include "mamba/session.h"
#include "mamba/status.h"
#include "mamba/weight_type.h"
#include "mamba/tokenizer.h"

// mamba-gpu-bench (CUDA builds only): GPU prefill speed at released model shapes (random weights,
// written once into --dir), against the CPU prefill, and how close it gets to the GPU's GEMM
// roofline: the projections' FLOPs divided by the prefill time, as a fraction of the peak that a
// large cuBLAS GEMM of the same type reaches on this GPU in the same run. Prints a Markdown table.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "mamba/mamba.h"
#include "tools/random_checkpoint.h"

namespace {

using clock_type = std::chrono::steady_clock;

int fail(const std::string& message) {
  std::fprintf(stderr, "mamba-gpu-bench: error: %s\n", message.c_str());
  return 1;
}

// FLOPs of the projections for T tokens (in_proj, x_proj, dt_proj, out_proj; 2 per multiply-add),
// plus the lm_head of the last token. The scan / SSD and the elementwise kernels are not counted:
// the fraction of the roofline below is the projections' share of the GPU's GEMM speed.
double projection_flops(const mamba::Config& c, double T) {
  const double dm = c.d_model, d = c.d_inner, N = c.d_state, R = c.dt_rank;
  double per_layer;
  if (c.arch == mamba::Architecture::mamba1)
    per_layer = 2 * d * dm + (R + 2 * N) * d + d * R + dm * d;
  else
    per_layer = (d + c.conv_dim() + c.n_heads) * dm + dm * d;
  return 2 * T * per_layer * c.n_layer + 2 * double(c.vocab_size) * dm;
}

// Measured peak of cublasGemmEx with these operand types (fp32 accumulate and output, as the
// prefill's projections), on an n x n x n product: FLOP/s, or a negative number on failure.
double measure_gemm_peak(mamba::GpuPrecision p, int n) {
  const cudaDataType_t t = p == mamba::GpuPrecision::fp32 ? CUDA_R_32F
                           : p == mamba::GpuPrecision::f16 ? CUDA_R_16F
                                                           : CUDA_R_16BF;
  const size_t elem = p == mamba::GpuPrecision::fp32 ? 4 : 2;
  void *A = nullptr, *B = nullptr, *C = nullptr;
  cublasHandle_t h = nullptr;
  double result = -1;
  cudaEvent_t e0 = nullptr, e1 = nullptr;
  if (cudaMalloc(&A, size_t(n) * n * elem) == cudaSuccess &&
      cudaMalloc(&B, size_t(n) * n * elem) == cudaSuccess &&
      cudaMalloc(&C, size_t(n) * n * 4) == cudaSuccess && cublasCreate(&h) == CUBLAS_STATUS_SUCCESS &&
      cudaMemset(A, 0, size_t(n) * n * elem) == cudaSuccess &&
      cudaMemset(B, 0, size_t(n) * n * elem) == cudaSuccess && cudaEventCreate(&e0) == cudaSuccess &&
      cudaEventCreate(&e1) == cudaSuccess) {
    const float alpha = 1, beta = 0;
    auto run = [&] {
      return cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, n, n, n, &alpha, A, t, n, B, t, n, &beta, C,
                          CUDA_R_32F, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    };
    bool ok = true;
    for (int i = 0; i < 3 && ok; ++i) ok = run() == CUBLAS_STATUS_SUCCESS;  // warm-up
    const int reps = 20;
    cudaEventRecord(e0);
    for (int i = 0; i < reps && ok; ++i) ok = run() == CUBLAS_STATUS_SUCCESS;
    cudaEventRecord(e1);
    float ms = 0;
    if (ok && cudaEventSynchronize(e1) == cudaSuccess && cudaEventElapsedTime(&ms, e0, e1) == cudaSuccess)
      result = 2.0 * n * n * double(n) * reps / (ms * 1e-3);
  }
  if (e0) cudaEventDestroy(e0);
  if (e1) cudaEventDestroy(e1);
  if (h) cublasDestroy(h);
  cudaFree(A);
  cudaFree(B);
  cudaFree(C);
  return result;
}

template <class F>
double median_seconds(int repeat, F&& f) {
  std::vector<double> t;
  for (int i = 0; i < repeat; ++i) {
    const auto a = clock_type::now();
    if (!f()) return -1;
    t.push_back(std::chrono::duration<double>(clock_type::now() - a).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"GPU prefill speed vs the CPU path and vs the GPU's GEMM roofline"};
  std::vector<std::string> presets = {"mamba-130m", "mamba-1.4b", "mamba2-1.3b"};
  std::vector<int> lengths = {512, 4096, 65536};
  std::string dir = (std::filesystem::temp_directory_path() / "mamba-gpu-bench").string();
  std::string precision = "bf16";
  mamba::GpuLimits gl;
  int repeat = 3, threads = 0, cpu_chunk = 512, peak_n = 8192;
  int64_t cpu_max_tokens = 4096;
  app.add_option("--presets", presets, "model shapes (mamba-random-checkpoint presets)")->delimiter(',');
  app.add_option("--lengths", lengths, "prompt lengths in tokens")->delimiter(',')
      ->check(CLI::Range(1, 1 << 24));
  app.add_option("--dir", dir, "where the random checkpoints are written (and reused)");
  app.add_option("--precision", precision, "bf16, f16 or fp32")->check(CLI::IsMember({"bf16", "f16", "fp32"}));
  app.add_option("--gpu-chunk", gl.max_chunk, "tokens per GPU pass")->check(CLI::Range(1, 65536));
  app.add_option("--repeat", repeat, "GPU runs per point (median)")->check(CLI::Range(1, 100));
  app.add_option("-t,--threads", threads, "CPU threads (default: all cores)")->check(CLI::Range(0, 1024));
  app.add_option("--cpu-chunk", cpu_chunk, "CPU prefill chunk")->check(CLI::Range(1, 65536));
  app.add_option("--cpu-max-tokens", cpu_max_tokens,
                 "time the CPU only for prompts up to this long (it is slow); 0 = never");
  app.add_option("--peak-size", peak_n, "n of the n x n x n GEMM that measures the peak")
      ->check(CLI::Range(256, 32768));
  CLI11_PARSE(app, argc, argv);
  gl.precision = precision == "fp32"  ? mamba::GpuPrecision::fp32
                 : precision == "f16" ? mamba::GpuPrecision::f16
                                      : mamba::GpuPrecision::bf16;
  if (mamba::GpuPrefill::device_count() == 0) return fail("no CUDA device (or driver)");

  const double peak = measure_gemm_peak(gl.precision, peak_n);
  if (peak <= 0) return fail("the peak GEMM measurement failed");
  std::printf("GEMM peak (%s operands, fp32 accumulate, %d^3): %.1f TFLOP/s\n\n", precision.c_str(),
              peak_n, peak / 1e12);
  std::printf("| model shape | prompt tokens | GPU prefill tokens/s | CPU prefill tokens/s | GPU/CPU "
              "| projections TFLOP/s | fraction of GEMM peak |\n|---|---|---|---|---|---|---|\n");
  for (const std::string& preset : presets) {
    mamba::tools::RandomCheckpoint rc;
    if (!rc.set_preset(preset)) return fail("unknown preset " + preset);
    rc.dtype = "BF16";  // half the disk; the model is widened to fp32 on load anyway
    const std::string path = dir + "/" + preset;
    if (!std::filesystem::exists(path + "/config.json")) {
      std::fprintf(stderr, "writing %s ...\n", path.c_str());
      if (std::string err = rc.write_to(path); !err.empty()) return fail(err);
    }
    auto model = mamba::Model::load(path);
    if (!model.ok()) return fail(model.message());
    const mamba::Config& c = (*model)->config();
    auto gpu = mamba::GpuPrefill::create(*model, gl);
    if (!gpu.ok()) return fail(gpu.message());
    std::fprintf(stderr, "%s on %s: GPU plan %.0f MiB\n", preset.c_str(),
                 (*gpu)->device_name().c_str(), double((*gpu)->memory().total()) / (1 << 20));
    mamba::SessionLimits sl;
    sl.prefill_chunk = cpu_chunk;
    sl.n_threads = threads;
    auto s = mamba::Session::create(*model, sl);
    if (!s.ok()) return fail(s.message());
    std::mt19937 rng(1);
    for (int T : lengths) {
      std::vector<int32_t> ids(static_cast<size_t>(T));
      for (int32_t& id : ids) id = int32_t(rng() % uint32_t(c.vocab_size));
      std::string error;
      auto gpu_run = [&] {
        (*s)->reset();
        auto r = (*gpu)->prefill(**s, ids.data(), ids.size());
        if (!r.ok()) error = r.message();
        return r.ok();
      };
      if (!gpu_run()) return fail(error);  // warm-up
      const double t_gpu = median_seconds(repeat, gpu_run);
      if (t_gpu < 0) return fail(error);
      double t_cpu = -1;
      if (T <= cpu_max_tokens) {
        t_cpu = median_seconds(1, [&] {
          (*s)->reset();
          return (*s)->prefill(ids.data(), ids.size()).ok();
        });
      }
      const double achieved = projection_flops(c, T) / t_gpu;
      std::printf("| %s | %d | %.0f | %s | %s | %.1f | %.2f |\n", preset.c_str(), T, T / t_gpu,
                  t_cpu > 0 ? std::to_string(int64_t(T / t_cpu)).c_str() : "-",
                  t_cpu > 0 ? (std::to_string(int64_t(t_cpu / t_gpu)) + "x").c_str() : "-",
                  achieved / 1e12, achieved / peak);
      std::fflush(stdout);
    }
  }
  return 0;
}
